"""Finding people before they ask (主动发现): visit observations, early-warning rules the county
defines as data, and the verification tasks (核实) a rule opens for the station."""
