"""Watching a drill from outside: the live `/metrics` endpoint every drill serves, and the alert
drill (a scenario's `alerts:` section), in which a real Prometheus scrapes that endpoint,
evaluates alerting rules and is asked afterwards which alerts fired and when.

    spec.py         the scenario's `alerts:` section (rule files, `for:` overrides, expectations)
    rules.py        rule files read, checked and rewritten with the drill's `for:` durations
    cluster.py      the cluster's latest state from the probes and serverStatus
    exporter.py     the metrics in Prometheus' exposition format (prometheus_client), on loopback
    prometheus.py   Debian's `prometheus` binary: config, start, HTTP API, stop
    validation.py   an alert drill's Prometheus from before the load to the record of its answers
"""
