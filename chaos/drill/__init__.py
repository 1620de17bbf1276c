"""The drill: `hubchaos run` — bring a cluster up, drive the hub workload, play the fault
timeline, probe, heal, verify, tear down, analyse."""
