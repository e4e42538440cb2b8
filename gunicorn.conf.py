"""gunicorn's settings for Baton's web process; gunicorn reads this file from the directory it starts in.

The command line (the Procfile's) sets workers, threads and the address.
"""

from ops.limits import close_oversized

# Close the connection after a request over Baton's size limit (see ops/limits.py).
pre_request = close_oversized
# gunicorn's threaded worker, refusing with a quick 503 a request that waited too long for a
# thread (see ops/limits.py); the Procfile names it too.
worker_class = "ops.limits.Worker"


def on_starting(_server: object) -> None:
    """Check the settings and config file in the master before any worker starts.

    A worker that exits on a bad setting is only replaced by another that does
    the same, for ever; checked here, the mistake stops gunicorn with its
    one-line problems and exit status 2.
    """
    from app import check_start_up

    check_start_up()
