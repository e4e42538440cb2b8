"""``python -m bot.clock``: start the clock process (the Procfile names it), which lives in ops/processes.py."""

from ops.processes import run_clock

run_clock()
