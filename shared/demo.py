"""A demo county in the proportions the seed reports give: ~14 townships, hundreds of villages,
hardship households with tiers and needs, and the resources of a county's rescue alliance.

Deterministic: the same seed and sizes give the same county. The payloads are what the HTTP
APIs accept, so the demo is loaded through the real services. The benchmarks use the same
generator at province scale (`province_resources`).
"""

import math
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import divisions
from shared.contracts.matcher import RankRequest
from shared.contracts.resources import CapacityMode, ResourceKind, ResourceUpserted

DEFAULT_COUNTY = "511523"  # 江安县, 宜宾市, 四川省: 14 towns, as in the seed report
VILLAGE_STEMS = [
    "柏杨",
    "桂花",
    "龙泉",
    "石桥",
    "青山",
    "团结",
    "红星",
    "双河",
    "新民",
    "金竹",
    "长滩",
    "瓦窑",
    "高峰",
    "竹林",
    "水口",
]

DEPARTMENTS: list[tuple[str, list[str]]] = [
    ("县民政局", ["basic_living", "emergency.temporary_assistance"]),
    ("县卫生健康局", ["medical.clinic", "medical.chronic_care"]),
    ("县医疗保障局", ["medical.bill_assistance"]),
    ("县教育和体育局", ["education.tuition"]),
    ("县住房和城乡建设局", ["housing.repair", "housing.rent"]),
    ("县人力资源和社会保障局", ["employment"]),
    ("县应急管理局", ["emergency.disaster", "emergency.shelter"]),
    ("县残疾人联合会", ["disability", "rehabilitation.assistive_devices"]),
    ("县妇女联合会", ["child_welfare", "psychological.family_mediation"]),
    ("县司法局", ["legal_aid"]),
]
ENTERPRISE_OFFERS = [
    ["basic_living.food", "basic_living.clothing"], ["micro_wish.goods"],
    ["employment.job_placement"], ["employment.skills_training"], ["education.school_supplies"],
    ["housing.accessibility"], ["elderly_care.meals"], ["basic_living.food", "micro_wish.goods"],
]  # fmt: skip
CHARITY_OFFERS = [
    ["education.tuition"], ["medical.bill_assistance"], ["child_welfare.left_behind"],
    ["elderly_care.home_care"], ["rehabilitation.child_development"], ["emergency"],
    ["psychological.counselling"], ["basic_living.cash_assistance"],
]  # fmt: skip
VOLUNTEER_OFFERS = [
    ["elderly_care.companionship"], ["education.tutoring"], ["child_welfare.left_behind"],
    ["elderly_care.meals"], ["medical.clinic"], ["psychological.counselling"],
    ["legal_aid.consultation"], ["housing.repair"], ["micro_wish.experience"],
]  # fmt: skip
DESCRIPTIONS = {
    "basic_living": "为困难家庭提供米面粮油、衣物被褥等生活物资",
    "medical": "就医陪诊、慢病随访和医疗费用救助",
    "rehabilitation": "康复训练与辅助器具适配,服务残疾人和儿童",
    "employment": "岗位推荐与技能培训,帮助困难群众就业",
    "education": "助学金、课业辅导和学习用品,关爱困难学生",
    "housing": "危房改造、适老化改造和住房保障",
    "elderly_care": "居家照料、助餐送餐、探访陪伴独居老人",
    "child_welfare": "留守儿童关爱与困境儿童保护",
    "disability": "残疾人护理补贴、就业与日间照料",
    "psychological": "心理疏导与家庭关系调适",
    "legal_aid": "法律咨询与法律援助",
    "emergency": "临时救助与突发困难应急帮扶",
    "micro_wish": "认领困难群众微心愿",
}
HARDSHIP = [("低保", 45), ("特困", 15), ("低保边缘", 15), ("支出型困难", 15), ("临时救助", 10)]
NEED_CATEGORIES = [
    ("elderly_care.companionship", 14), ("elderly_care.meals", 8), ("basic_living.food", 12),
    ("medical.clinic", 8), ("medical.bill_assistance", 6), ("education.tutoring", 8),
    ("child_welfare.left_behind", 8), ("employment.job_placement", 6), ("housing.repair", 5),
    ("psychological.counselling", 5), ("legal_aid.consultation", 3), ("micro_wish.goods", 8),
    ("rehabilitation.assistive_devices", 4), ("education.tuition", 5),
]  # fmt: skip
NEED_TEXT = {
    "elderly_care": "独居老人需要定期探访陪伴和助餐",
    "basic_living": "家庭生活困难,需要米面粮油等生活物资",
    "medical": "慢性病老人需要就医陪诊,医疗费用负担重",
    "education": "孩子学习跟不上,需要课业辅导和助学支持",
    "child_welfare": "留守儿童需要关爱陪伴",
    "employment": "家庭主要劳动力失业,需要就业帮扶",
    "housing": "房屋年久失修,需要危房改造",
    "psychological": "家庭关系紧张,需要心理疏导",
    "legal_aid": "需要法律咨询",
    "micro_wish": "微心愿:想要一个新书包",
    "rehabilitation": "残疾老人需要轮椅等辅助器具",
}


@dataclass(frozen=True)
class Township:
    adcode: str
    name: str
    lat: float
    lon: float


# The demo coordinator's organization: it owns some of the charities' resources, and the demo
# loader refers needs to them, so the coordinator has referrals to answer.
DEMO_ORGANIZATION = "江安县链接公益服务中心"
DEMO_ORGANIZATION_SHARE = 4  # every 4th charity resource is the demo organization's
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["秀英", "桂兰", "建国", "国华", "德明", "玉珍", "志强", "淑芬", "小红", "子涵", "浩然"]
PERSON_GROUPS = [
    (["elderly", "elderly_living_alone"], 35),
    (["elderly", "elderly_left_behind"], 20),
    (["left_behind_child"], 15),
    (["child_in_difficulty"], 10),
    ([], 20),
]


@dataclass
class DemoCounty:
    """Payloads for the APIs: resources, households, persons and needs (by household index).

    A person's payload carries `visit_days_ago` (when they were last visited, so that visits
    fall due); the loader turns it into a visit dated that many days before the load."""

    county: divisions.Division
    townships: list[Township]
    resources: list[dict[str, Any]] = field(default_factory=list)
    households: list[dict[str, Any]] = field(default_factory=list)
    needs: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    persons: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _persons(rng: random.Random) -> list[dict[str, Any]]:
    """A household's persons: its head, and sometimes a member; each with a tier and a
    last visit between a week and half a year ago."""
    people = []
    for i in range(rng.choice([1, 1, 2, 3])):
        groups = list(rng.choices([g for g, _ in PERSON_GROUPS], [w for _, w in PERSON_GROUPS])[0])
        people.append(
            {
                "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                "is_head": i == 0,
                "groups": groups,
                "tier": rng.choice([1, 2, 2, 3, 3, 4]),
                "visit_days_ago": rng.randint(5, 180),
            }
        )
    return people


def _offset(rng: random.Random, lat: float, lon: float, max_km: float) -> tuple[float, float]:
    """A point uniformly within `max_km` of (lat, lon)."""
    r = max_km * math.sqrt(rng.random())
    theta = rng.uniform(0, 2 * math.pi)
    dlat = r * math.cos(theta) / 111.0
    dlon = r * math.sin(theta) / (111.0 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def townships(county: divisions.Division, rng: random.Random, count: int = 14) -> list[Township]:
    """Up to `count` of the county's real townships (乡镇/街道, from the division table), placed
    around its centroid (the table has no township centroids); the county itself when the table
    lists none of its townships."""
    assert county.lat is not None and county.lon is not None
    result = []
    towns = divisions.townships_of(county.adcode)[:count] or [county]
    for i, town in enumerate(towns):
        lat, lon = (county.lat, county.lon) if i == 0 else _offset(rng, county.lat, county.lon, 22)
        result.append(Township(town.adcode, town.name, lat, lon))
    return result


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def resource_payload(
    rng: random.Random, kind: str, index: int, town: Township, county_code: str
) -> dict[str, Any]:
    """One resource as POST /resources accepts it."""
    lat, lon = _offset(rng, town.lat, town.lon, 3)
    if kind == "department":
        name, offers = DEPARTMENTS[index % len(DEPARTMENTS)]
        return _resource(name, kind, offers, lat, lon, None, [county_code], rng.choice([20, 50]))
    pool = {"enterprise": ENTERPRISE_OFFERS, "charity": CHARITY_OFFERS}.get(kind, VOLUNTEER_OFFERS)
    offers = pool[index % len(pool)]
    label = {"enterprise": "爱心企业", "charity": "公益慈善会", "volunteer": "志愿服务队"}[kind]
    radius = {"enterprise": 15.0, "charity": 30.0, "volunteer": 5.0}[kind]
    capacity = {"enterprise": 20, "charity": 30, "volunteer": 8}[kind]
    return _resource(
        f"{town.name}{label}{index + 1:03d}", kind, offers, lat, lon, radius, [],
        rng.randint(max(1, capacity // 4), capacity),
    )  # fmt: skip


def _resource(
    name: str,
    kind: str,
    offers: list[str],
    lat: float,
    lon: float,
    radius: float | None,
    adcodes: list[str],
    capacity: int,
) -> dict[str, Any]:
    top = offers[0].split(".")[0]
    eligible = ["elderly"] if top == "elderly_care" else []
    return {
        "name": name,
        "kind": kind,
        "organization": name if kind != "volunteer" else None,
        "categories": offers,
        "description": DESCRIPTIONS[top],
        "location": {"lat": lat, "lon": lon},
        "radius_km": radius,
        "adcodes": adcodes,
        "eligible_groups": eligible,
        "capacity": {"total": capacity, "unit": "persons", "period": "month"},
        "verified": True,
    }


def generate_county(
    *, seed: int = 2026, county: str = DEFAULT_COUNTY, households: int = 200, resources: int = 120
) -> DemoCounty:
    """A deterministic demo county of the given size."""
    rng = random.Random(seed)
    division = divisions.get(county)
    if division is None or division.lat is None:
        raise ValueError(f"no county with a known centroid has code {county}")
    towns = townships(division, rng)
    demo = DemoCounty(county=division, townships=towns)
    kinds = ["department"] * min(len(DEPARTMENTS), resources)
    rest = resources - len(kinds)
    kinds += ["enterprise"] * (rest // 4) + ["charity"] * (rest // 6)
    kinds += ["volunteer"] * (resources - len(kinds))
    people = random.Random(seed + 1)  # its own stream: the rest of the county stays as it was
    charities = 0
    for i, kind in enumerate(kinds):
        payload = resource_payload(rng, kind, i, towns[i % len(towns)], county)
        if kind == "charity":
            if charities % DEMO_ORGANIZATION_SHARE == 0:
                payload["organization"] = DEMO_ORGANIZATION
            charities += 1
        demo.resources.append(payload)
    for h in range(households):
        town = towns[h % len(towns)]
        village = f"{rng.choice(VILLAGE_STEMS)}村"
        lat, lon = _offset(rng, town.lat, town.lon, 4)
        demo.households.append(
            {
                "address": f"{division.name}{town.name}{village}{rng.randint(1, 12)}组"
                f"{rng.randint(1, 60)}号",
                "adcode": town.adcode,
                "location": {"lat": lat, "lon": lon},
                "hardship_categories": [_weighted(rng, HARDSHIP)],
                "station_adcode": town.adcode,
            }
        )
        demo.persons += [(h, person) for person in _persons(people)]
        for _ in range(rng.choice([1, 1, 2])):
            category = _weighted(rng, NEED_CATEGORIES)
            demo.needs.append(
                (
                    h,
                    {
                        "category": category,
                        "description": NEED_TEXT[category.split(".")[0]],
                        "urgency": rng.randint(1, 5),
                        "quantity": 1,
                    },
                )
            )
    return demo


# ---- province scale, for the benchmarks -------------------------------------------------------

BENCH_EPOCH = (
    "2026-01-01T00:00:00+00:00"  # every generated state carries this time: same seed, same data
)
NEED_GROUPS = [
    ("elderly", 30),
    ("left_behind_child", 15),
    ("disabled", 10),
]  # shares (%) of needs per group


def province_counties(province: str) -> list[divisions.Division]:
    """The province's county-level divisions that have a centroid, by code."""
    found = (divisions.get(f"{province}{n:04d}") for n in range(10_000))
    return [d for d in found if d is not None and not d.adcode.endswith("00") and d.lat is not None]


def _province_towns(rng: random.Random, province: str) -> list[tuple[str, list[Township]]]:
    counties = province_counties(province)
    if not counties:
        raise ValueError(f"no county with a known centroid in province {province}")
    return [(county.adcode, townships(county, rng)) for county in counties]


def _county_kinds(resources: int) -> list[str]:
    """The kind mix `generate_county` uses: departments first, then enterprises, charities,
    volunteers."""
    kinds = ["department"] * min(len(DEPARTMENTS), resources)
    rest = resources - len(kinds)
    kinds += ["enterprise"] * (rest // 4) + ["charity"] * (rest // 6)
    return kinds + ["volunteer"] * (resources - len(kinds))


def province_resources(*, seed: int, province: str = "51", count: int) -> list[ResourceUpserted]:
    """`count` resource states (version 1) spread evenly over the province's counties, with the
    demo county's kind and category mix; some capacity already taken, a few on a waitlist."""
    rng = random.Random(seed)
    counties = _province_towns(rng, province)
    updated_at = datetime.fromisoformat(BENCH_EPOCH)
    states: list[ResourceUpserted] = []
    for c, (county_code, towns) in enumerate(counties):
        share = count // len(counties) + (1 if c < count % len(counties) else 0)
        for i, kind in enumerate(_county_kinds(share)):
            payload = resource_payload(rng, kind, i, towns[i % len(towns)], county_code)
            total = payload["capacity"]["total"]
            taken = rng.randint(0, total) if rng.random() < 0.6 else 0
            states.append(
                ResourceUpserted(
                    resource_id=f"r{province}-{len(states):07d}",
                    version=1,
                    name=payload["name"],
                    kind=ResourceKind(kind),
                    organization=payload["organization"],
                    categories=payload["categories"],
                    description=payload["description"],
                    lat=payload["location"]["lat"],
                    lon=payload["location"]["lon"],
                    radius_km=payload["radius_km"],
                    adcodes=payload["adcodes"],
                    eligible_groups=payload["eligible_groups"],
                    capacity_total=total,
                    capacity_remaining=total - taken,
                    capacity_mode=CapacityMode.WAITLIST
                    if rng.random() < 0.05
                    else CapacityMode.HARD,
                    open_referrals=min(taken, rng.randint(0, 10)),
                    updated_at=updated_at,
                )
            )
    return states


def province_needs(
    *, seed: int, province: str = "51", count: int, k: int = 10
) -> list[RankRequest]:
    """`count` rank requests placed like the demo's households (within 4 km of a town), with
    the demo's need categories, quantity 1, a few person groups and no free text (so every
    method of the benchmark can compute the same score)."""
    rng = random.Random(seed + 1)
    counties = _province_towns(random.Random(seed), province)
    needs: list[RankRequest] = []
    for _ in range(count):
        _, towns = counties[rng.randrange(len(counties))]
        town = towns[rng.randrange(len(towns))]
        lat, lon = _offset(rng, town.lat, town.lon, 4)
        groups = [g for g, share in NEED_GROUPS if rng.randrange(100) < share]
        needs.append(
            RankRequest(
                category=_weighted(rng, NEED_CATEGORIES),
                lat=lat,
                lon=lon,
                adcode=town.adcode,
                quantity=1,
                urgency=rng.randint(1, 5),
                groups=groups,
                text="",
                k=k,
            )
        )
    return needs
