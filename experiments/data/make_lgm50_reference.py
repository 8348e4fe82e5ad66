"""Write the LG M50 reference fade at optloop's default protocol from NREL BLAST-Lite.

Run in a separate venv (numpy<2, ``pip install blast-lite``); prints JSON rows that
``lgm50_fade_nrel_blast.csv`` holds. The model (Nmc811_GrSi_LGM50_5Ah_Battery, P. Gasper,
NREL) is an empirical calendar + cycling fit to measured LG M50 ageing (Truong Bui et al.
2021): its values at our protocol, not measurements.
"""

import json

import numpy as np
from blast.models.nmc811_grSi_LGM50_5Ah_2021 import Nmc811_GrSi_LGM50_5Ah_Battery as Model

# One cycle at 25 C: 0.5C CC charge (2 h), CV hold (~0.3 h), 1C discharge (1 h).
t = np.concatenate([
    np.linspace(0, 7200, 121), np.linspace(7200 + 60, 8280, 19),
    np.linspace(8280 + 60, 11880, 61),
])
soc = np.concatenate([np.linspace(0, 1, 121), np.ones(19), np.linspace(1, 0, 61)])
cell = Model()
cell.simulate_battery_life(
    {"Time_s": t, "SOC": soc, "Temperature_C": np.full_like(t, 25.0)},
    threshold_efc=2000, is_constant_input=True,
)
efc = np.asarray(cell.stressors["efc"])
q = np.asarray(cell.outputs["q"])
days = np.asarray(cell.stressors["t_days"])
wanted = [0, 1, 2, 5, 10, 20, 50, 100, 150, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500, 2000]
sel = np.unique(np.searchsorted(efc, wanted).clip(0, len(efc) - 1))
rows = [
    {"cycle": float(efc[i]), "days": float(days[i]), "relative_capacity": float(q[i]),
     "q_time": float(cell.outputs["q_t"][i]), "q_cycles": float(cell.outputs["q_EFC"][i])}
    for i in sel
]
print(json.dumps(rows, indent=0))
