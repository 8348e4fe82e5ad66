"""``optloop materials``: capacity, expansion and density of elements and compositions."""

from __future__ import annotations

import click

from optloop.cli._format import echo_json, table
from optloop.exceptions import MaterialsError
from optloop.materials import properties_of

__all__ = ["materials"]


@click.command()
@click.argument("formulas", nargs=-1, required=True, metavar="SYMBOL-OR-FORMULA...")
@click.option("--json", "as_json", is_flag=True, help="Print a list of property records.")
def materials(formulas: tuple[str, ...], as_json: bool) -> None:
    """Print theoretical capacity, expansion and density, e.g. `Si Si0.7Cu0.3 SnO2 C Li`.

    Capacities are per gram and per cm^3 of unlithiated material; expansion is the volume
    change on full lithiation (constant Li volume); oxides show their first-cycle loss
    (2 Li per O).
    """
    props, errors = [], []
    for f in formulas:
        try:
            props.append(properties_of(f))
        except MaterialsError as exc:
            errors.append(str(exc))
    if errors:
        raise MaterialsError("; ".join(errors))
    if as_json:
        echo_json([p.to_dict() for p in props])
        return
    rows = [
        [
            p.formula,
            p.specific_capacity_mAh_g,
            p.volumetric_capacity_mAh_cm3,
            p.irreversible_capacity_mAh_g,
            p.first_cycle_efficiency_max,
            100.0 * p.volume_expansion,
            p.density_g_cm3,
            p.max_concentration_mol_m3,
            p.mean_potential_V,
        ]
        for p in props
    ]
    click.echo(
        table(
            [
                "material",
                "mAh/g",
                "mAh/cm3",
                "irrev. mAh/g",
                "max ICE",
                "expansion %",
                "g/cm3",
                "c_max mol/m3",
                "V vs Li",
            ],
            rows,
        )
    )
