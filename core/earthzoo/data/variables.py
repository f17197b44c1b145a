"""Channel lists of the real archives, in a module light enough for plugin registration."""

FOURCASTNET_V0 = (
    "u10",
    "v10",
    "t2m",
    "sp",
    "msl",
    "t850",
    "u1000",
    "v1000",
    "z1000",
    "u850",
    "v850",
    "z850",
    "u500",
    "v500",
    "z500",
    "t500",
    "z50",
    "r500",
    "r850",
    "tcwv",
)
FOURCASTNET_V1 = FOURCASTNET_V0 + ("u100", "v100", "u250", "v250", "z250", "t250")
