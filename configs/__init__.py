"""Ready run configs (``*.yaml``) and sweeps (``sweeps/*.yaml``), installed as package data
``wnrl.configs`` so that ``wnrl train cartpole_ppo`` finds them from an installed wnrl."""
