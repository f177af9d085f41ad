"""Pure parts of the console: labels, the work queue, clocks, the facts form, live changes.
No I/O here, and the clock is passed in."""
