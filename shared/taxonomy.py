"""The category taxonomy (需求/资源分类): two levels, codes with zh-CN and English labels.

Drawn from the needs the seed reports name: basic living, medical care, rehabilitation,
employment, schooling, housing, elderly care, child welfare, disability, psychological and
family support, legal aid, emergencies and micro-wishes (微心愿).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """One taxonomy entry; `parent` is None for a top-level category."""

    code: str
    zh: str
    en: str
    parent: str | None = None


_TREE: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {
    ("basic_living", "基本生活", "Basic living"): [
        ("food", "米面粮油", "Food and groceries"),
        ("clothing", "衣物被褥", "Clothing and bedding"),
        ("utilities", "水电燃气", "Utilities"),
        ("cash_assistance", "生活救助金", "Cash assistance"),
    ],
    ("medical", "医疗救助", "Medical care"): [
        ("clinic", "就医陪诊", "Clinic visits and escort"),
        ("bill_assistance", "医疗费用救助", "Medical bill assistance"),
        ("chronic_care", "慢病管理", "Chronic disease care"),
        ("rehabilitation", "医疗康复", "Medical rehabilitation"),
    ],
    ("rehabilitation", "康复服务", "Rehabilitation"): [
        ("physical_therapy", "康复训练", "Physical therapy"),
        ("assistive_devices", "辅助器具", "Assistive devices"),
        ("child_development", "儿童康复", "Child development therapy"),
    ],
    ("employment", "就业帮扶", "Employment"): [
        ("job_placement", "岗位推荐", "Job placement"),
        ("skills_training", "技能培训", "Skills training"),
        ("public_welfare_post", "公益岗位", "Public-welfare posts"),
    ],
    ("education", "教育助学", "Education"): [
        ("tuition", "助学金", "Tuition aid"),
        ("tutoring", "课业辅导", "Tutoring"),
        ("school_supplies", "学习用品", "School supplies"),
    ],
    ("housing", "住房保障", "Housing"): [
        ("repair", "危房改造", "Dilapidated house repair"),
        ("accessibility", "适老化改造", "Accessibility retrofit"),
        ("rent", "租房补贴", "Rent assistance"),
    ],
    ("elderly_care", "养老服务", "Elderly care"): [
        ("home_care", "居家照料", "Home care"),
        ("meals", "助餐送餐", "Meal service"),
        ("institutional_care", "机构养老", "Residential care"),
        ("companionship", "探访陪伴", "Visiting and companionship"),
    ],
    ("child_welfare", "儿童关爱", "Child welfare"): [
        ("left_behind", "留守儿童关爱", "Left-behind children"),
        ("protection", "儿童保护", "Child protection"),
        ("guardianship", "监护支持", "Guardianship support"),
    ],
    ("disability", "助残服务", "Disability support"): [
        ("care_subsidy", "护理补贴", "Care subsidies"),
        ("employment", "残疾人就业", "Disability employment"),
        ("daycare", "日间照料", "Day care"),
    ],
    ("psychological", "心理与家庭支持", "Psychological and family support"): [
        ("counselling", "心理疏导", "Counselling"),
        ("family_mediation", "家庭关系调适", "Family mediation"),
        ("bereavement", "哀伤辅导", "Bereavement support"),
    ],
    ("legal_aid", "法律援助", "Legal aid"): [
        ("consultation", "法律咨询", "Legal consultation"),
        ("representation", "诉讼代理", "Legal representation"),
    ],
    ("emergency", "应急救助", "Emergency relief"): [
        ("temporary_assistance", "临时救助", "Temporary assistance"),
        ("disaster", "灾害救助", "Disaster relief"),
        ("shelter", "临时庇护", "Emergency shelter"),
    ],
    ("micro_wish", "微心愿", "Micro-wishes"): [
        ("goods", "物品心愿", "Goods wishes"),
        ("experience", "活动心愿", "Experience wishes"),
    ],
}


def _build() -> dict[str, Category]:
    categories: dict[str, Category] = {}
    for (code, zh, en), children in _TREE.items():
        categories[code] = Category(code, zh, en)
        for child, czh, cen in children:
            full = f"{code}.{child}"
            categories[full] = Category(full, czh, cen, parent=code)
    return categories


CATEGORIES: dict[str, Category] = _build()

EXACT_FIT = 1.0
PARENT_FIT = 0.8  # the resource offers the need's parent category: it serves the whole family
CHILD_FIT = 0.5  # the resource offers one sub-category of a general need: it may cover part of it


def is_known(code: str) -> bool:
    """True when `code` is a category in the taxonomy."""
    return code in CATEGORIES


def top_level(code: str) -> str:
    """The top-level code of `code` (`medical.clinic` → `medical`)."""
    return code.split(".", 1)[0]


def category_fit(offered: str, needed: str) -> float:
    """How well a resource offering `offered` fits a need of `needed`; 0 means it cannot serve."""
    if offered == needed:
        return EXACT_FIT
    if CATEGORIES.get(needed) and CATEGORIES[needed].parent == offered:
        return PARENT_FIT
    if CATEGORIES.get(offered) and CATEGORIES[offered].parent == needed:
        return CHILD_FIT
    return 0.0


def compatible_offers(needed: str) -> list[str]:
    """Every offered code that can serve `needed`, best fit first."""
    if needed not in CATEGORIES:
        return []
    codes = [needed]
    parent = CATEGORIES[needed].parent
    if parent:
        codes.append(parent)
    codes.extend(c.code for c in CATEGORIES.values() if c.parent == needed)
    return codes


def best_fit(offered: list[str], needed: str) -> tuple[float, str | None]:
    """The best fit among a resource's offered codes, and the code that gives it."""
    best: tuple[float, str | None] = (0.0, None)
    for code in offered:
        fit = category_fit(code, needed)
        if fit > best[0]:
            best = (fit, code)
    return best
