"""Campaigns: one drill repeated (`hubchaos run SCENARIO --repeat N`, or a `campaign:` section),
each run a drill of its own in a child process, and the distributions over all of them."""
