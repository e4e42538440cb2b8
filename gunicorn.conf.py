"""gunicorn's settings for Baton's web process; gunicorn reads this file from the directory it starts in.

The command line (the Procfile's) sets workers, threads and the address.
"""

from ops.limits import close_oversized

# Close the connection after a request over Baton's size limit (see ops/limits.py).
pre_request = close_oversized
