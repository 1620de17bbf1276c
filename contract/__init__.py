"""What the writers of a run (chaos/, locustfiles/, mongoemu/) and its readers (reports/) share,
so that neither imports the other: the run-directory format (`rundir`), the error tree and exit
codes (`errors`), durations as scenarios write them (`durations`) and the members' ground-truth
record format (`groundtruth`).

This package imports nothing of the suite and nothing heavier than pydantic, pyarrow and bson.
"""
