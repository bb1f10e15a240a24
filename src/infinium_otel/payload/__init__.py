"""Pure conversion of a finished run into an Infinium payload: steps, usage, errors,
environment, encoding and size fitting, and the contract's numbers. No I/O, no threads."""
