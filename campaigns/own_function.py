"""The lab's own function for campaigns/own-function.yaml (`type: python`).

A stand-in for a fitted model: the band gap (eV) of a mixed-halide perovskite
CsPb(I,Br,Cl)3 by Vegard's law with bowing, and its photo-stability, which
drops for iodide-rich films annealed hot. See
docs/how-to/use-your-own-function.md.
"""

END_MEMBERS = {"I": 1.73, "Br": 2.36, "Cl": 3.02}  # eV, CsPbX3
BOWING = {("I", "Br"): 0.33, ("Br", "Cl"): 0.25, ("I", "Cl"): 0.9}  # eV


def band_gap(composition, parameters, target_ev=1.9):
    """Band gap, its distance to *target_ev*, and the film's stability."""
    x = composition
    gap = sum(x[h] * END_MEMBERS[h] for h in END_MEMBERS)
    gap -= sum(b * x[p] * x[q] for (p, q), b in BOWING.items())
    anneal = parameters["anneal_C"]
    if x["I"] > 0.8 and anneal > 170:
        raise RuntimeError("film decomposed (PbI2 seen) during the anneal")
    stability = 100 - 60 * x["I"] * (anneal / 200) ** 2
    return {
        "gap_error": abs(gap - target_ev),
        "stability": stability,
        "band_gap": gap,  # not an objective: kept with the measurement
    }
