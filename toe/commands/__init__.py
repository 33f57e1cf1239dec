"""One module per `python -m toe` sub-command; see `toe.cli` for the contract."""
