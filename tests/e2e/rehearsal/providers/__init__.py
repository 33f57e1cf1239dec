"""Provider plugins for the rehearsal, written in Python: `aws` (against moto) and `eks`."""
