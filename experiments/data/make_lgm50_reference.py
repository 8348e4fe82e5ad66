# Reference fade of the LG M50 at optloop's default protocol from NREL BLAST-Lite (run with numpy<2 + blast-lite in a separate venv).
import numpy as np, json
from blast.models.nmc811_grSi_LGM50_5Ah_2021 import Nmc811_GrSi_LGM50_5Ah_Battery as M
# One cycle of optloop's default protocol at 25 C: 0.5C CC charge (2 h) + CV hold (~0.3 h), 1C discharge (1 h).
t = np.concatenate([np.linspace(0, 7200, 121), np.linspace(7200 + 60, 8280, 19), np.linspace(8280 + 60, 11880, 61)])
soc = np.concatenate([np.linspace(0, 1, 121), np.ones(19), np.linspace(1, 0, 61)])
T = np.full_like(t, 25.0)
m = M()
m.simulate_battery_life({"Time_s": t, "SOC": soc, "Temperature_C": T}, threshold_efc=2000, is_constant_input=True)
efc = np.asarray(m.stressors["efc"]); q = np.asarray(m.outputs["q"]); days = np.asarray(m.stressors["t_days"])
sel = np.unique(np.searchsorted(efc, [0,1,2,5,10,20,50,100,150,200,300,400,500,600,800,1000,1200,1500,2000]).clip(0, len(efc)-1))
rows = [{"cycle": float(efc[i]), "days": float(days[i]), "relative_capacity": float(q[i]), "q_time": float(m.outputs["q_t"][i]), "q_cycles": float(m.outputs["q_EFC"][i])} for i in sel]
print(json.dumps(rows, indent=0))
