"""tune's library: the tuning procedure as plain functions and dataclasses.

Nothing here prints. Each step returns a result object with ``to_dict()``;
long work reports progress through an optional callback.
"""
