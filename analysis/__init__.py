"""Analysis of SSD studies: T_eff maps, token-level lock/fork statistics, Equation 4, toy figures.

Never imported by ``ssd/``. Each module is a command: ``python -m analysis.<module> --help``.
"""
