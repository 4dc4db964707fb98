"""The message catalog: what each rule code says to a user, in zh-CN (the default) and English.

`shared/problems.py` writes every problem+json `detail` and every `errors[].message` from here,
in the language the request's `Accept-Language` prefers (Chinese unless English is preferred).
The rule codes themselves never change. A rule missing from the catalog keeps the message its
code raised (English): add it here (tests/shared/test_messages.py lists the missing ones).
Messages never repeat the value that was sent: the field and the rule name what broke.
`{name}` placeholders are filled from the error's parameters (pydantic's `ctx`) when present.
"""

import re
from dataclasses import dataclass
from typing import Any, Literal

Language = Literal["zh", "en"]


@dataclass(frozen=True)
class Message:
    zh: str
    en: str


CATALOG: dict[str, Message] = {
    # Vocabularies (shared/contracts/vocabulary.py)
    "unknown_category": Message(
        "不是分类表中的类别（见 GET /categories）",
        "not a category of the taxonomy (GET /categories)",
    ),
    "unknown_group": Message(
        "不是人员类别表中的类别（见 GET /groups）", "not a group of the vocabulary (GET /groups)"
    ),
    "unknown_hardship": Message(
        "不是困难类型（见 GET /hardship-types）",
        "not a hardship type (GET /hardship-types)",
    ),
    "unknown_resource_kind": Message(
        "不是资源类型（见 GET /resource-kinds）", "not a resource kind (GET /resource-kinds)"
    ),
    "unknown_tier": Message(
        "不是服务分级（1–5，见 GET /tiers）", "not a service tier (GET /tiers)"
    ),
    "unknown_unit": Message(
        "不是计量单位（见 GET /capacity-units）", "not a unit (GET /capacity-units)"
    ),
    "unknown_period": Message("不是容量周期（一次性、每周、每月、每年）", "not a capacity period"),
    "unknown_capacity_mode": Message("不是满额处理方式（满额停止、候补）", "not a capacity mode"),
    "unit_mismatch": Message(
        "需求的计量单位与资源的容量单位不一致，无法占用名额",
        "the need's unit differs from the unit the resource counts its capacity in",
    ),
    "unknown_hours": Message(
        "无法识别的服务时间，例如：周一至周五 08:30-17:30；工作日；每天",
        "unreadable opening hours, e.g. 周一至周五 08:30-17:30; 工作日; 每天",
    ),
    # Places
    "adcode_format": Message(
        "行政区划代码应为 6、9 或 12 位数字", "an adcode has 6, 9 or 12 digits"
    ),
    "unknown_adcode": Message("没有这个行政区划代码", "no administrative division has this code"),
    "outside_china": Message("该坐标不在中国境内", "the point lies outside China"),
    "unresolvable": Message(
        "无法从地址确定所属行政区划，请填写区划代码",
        "the address names no known division; give the adcode",
    ),
    "service_area_required": Message(
        "请填写服务半径或服务区域代码（或两者）", "give a service radius_km, adcodes, or both"
    ),
    # Dates, times, persons
    "date_range": Message("开始日期不能晚于结束日期", "the start date must not be after the end"),
    "date_format": Message("日期格式应为 2024-05-01", "a date is written 2024-05-01"),
    "not_in_future": Message("日期不能晚于今天", "the date lies in the future"),
    "hours_order": Message("开始时间应早于结束时间", "a slot must open before it closes"),
    "phone_format": Message(
        "手机号为 13–19 开头的 11 位数字；座机如 0831-1234567",
        "a mobile number has 11 digits from 13-19; a landline 0xxx-xxxxxxx",
    ),
    "resident_id_format": Message("身份证号应为 18 位", "a resident ID number has 18 characters"),
    "resident_id_checksum": Message("身份证号校验位不对", "the ID number's check digit is wrong"),
    "resident_id_birth_date": Message(
        "身份证号中的出生日期无效", "the birth date in the ID number is not a date"
    ),
    "matches_resident_id": Message(
        "与身份证号中的信息不一致", "does not match the resident ID number"
    ),
    "requires_disabled": Message("只有残疾人才有残疾等级", "only a disabled person has a grade"),
    "required_if_disabled": Message("残疾人须填写残疾等级", "a disabled person needs a grade"),
    # Consent and privacy
    "consent_withdrawn": Message(
        "本人已撤回同意，不能再匹配或转介", "consent was withdrawn: no matches or referrals"
    ),
    "separate_consent_required": Message(
        "健康与残疾信息须单独同意", "health and disability data need a separate consent"
    ),
    "guardian_consent_required": Message(
        "未满 14 周岁者的敏感信息须监护人同意",
        "a child under 14's sensitive data need a guardian's consent",
    ),
    "masked_value": Message(
        "这是打码后的值，请填写完整的值或不填", "a masked value: give the full value or leave it"
    ),
    "unknown_purpose": Message("请说明查看完整信息的用途", "give the purpose of this read"),
    "no_nul_character": Message("文本中不能含有空字符", "text may not contain a NUL character"),
    # Access
    "scope": Message("超出您的管辖范围", "outside your jurisdiction"),
    "role": Message(
        "角色 {role} 无权执行此操作（允许的角色：{allowed}）", "your role may not do this"
    ),
    "unmask_role": Message("您的角色无权查看完整信息", "your role may not read this unmasked"),
    "organization": Message("不属于您的机构", "not of your organization"),
    "organization_required": Message(
        "您的账号没有所属机构：机构协调员只处理本机构的事项，请管理员为账号设置机构",
        "your account names no organization: a coordinator acts for their organization only",
    ),
    "department_required": Message(
        "您的账号没有所属部门：审核人只审核本部门的转介，请管理员为账号设置部门",
        "your account names no department: a reviewer reviews for their department only",
    ),
    "region_required": Message(
        "审核人的账号没有区域代码，本系统也没有设置所在县（LIANJIE_NEEDS_COUNTY_ADCODE）："
        "审核人只审核一个区域内的转介，请管理员为账号设置区域代码，或为本系统设置所在县",
        "a reviewer's account names no region and this deployment sets no county "
        "(LIANJIE_NEEDS_COUNTY_ADCODE): a reviewer reviews within one region only",
    ),
    # Records and workflow
    "exists": Message("没有这条记录", "no such record"),
    "in_household": Message("该人员不在这户中", "no person with this id in the household"),
    "unique": Message("已有相同的记录", "such a record exists already"),
    "not_null": Message("请填写一个值，或不填此项", "give a value or leave the field out"),
    "required": Message("必须填写", "required"),
    "not_blank": Message("不能为空", "may not be blank"),
    "one_of": Message("不是可选的值之一", "not one of the allowed values"),
    "withdraw_instead": Message("请改为撤回同意（不能直接删除）", "withdraw the consent instead"),
    "only_when_exiting": Message("只在结案退出时填写", "given only when the case exits"),
    "required_to_exit": Message("结案退出须说明原因", "a case exits with a reason"),
    "required_to_activate": Message("开始服务前须有同意记录", "a case starts with a consent"),
    "required_to_return": Message("退回须说明原因", "a return needs a reason"),
    "required_to_skip_top_match": Message(
        "未选首位匹配结果时须说明原因", "say why the top match is not taken"
    ),
    "required_for_resource_not_matched": Message(
        "资源不在匹配结果中时须填写", "required for a resource that is not among the matches"
    ),
    "idempotency": Message(
        "同一个 Idempotency-Key 已用于另一请求", "this Idempotency-Key was used for another request"
    ),
    "unreadable_file": Message("无法读取该文件", "cannot read the file"),
    "unreadable": Message("无法读取", "cannot be read"),
    "pattern": Message("格式不对", "the format is wrong"),
    "min_length": Message("太短", "too short"),
    # Pydantic's own rules, as FastAPI reports them
    "missing": Message("必须填写", "field required"),
    "extra_forbidden": Message("不认识的字段", "unknown field"),
    "json_invalid": Message("请求体不是有效的 JSON", "the body is not valid JSON"),
    "string_type": Message("应为文本", "should be a string"),
    "string_too_short": Message("太短（至少 {min_length} 个字符）", "too short"),
    "string_too_long": Message("太长（最多 {max_length} 个字符）", "too long"),
    "string_pattern_mismatch": Message("格式不对", "does not match the expected format"),
    "int_type": Message("应为整数", "should be an integer"),
    "int_parsing": Message("应为整数", "should be an integer"),
    "int_from_float": Message("应为整数", "should be an integer"),
    "float_type": Message("应为数字", "should be a number"),
    "float_parsing": Message("应为数字", "should be a number"),
    "finite_number": Message("应为有限的数字", "should be a finite number"),
    "bool_type": Message("应为是或否", "should be true or false"),
    "bool_parsing": Message("应为是或否", "should be true or false"),
    "greater_than": Message("应大于 {gt}", "too small"),
    "greater_than_equal": Message("应不小于 {ge}", "too small"),
    "less_than": Message("应小于 {lt}", "too large"),
    "less_than_equal": Message("应不大于 {le}", "too large"),
    "too_short": Message("条目太少（至少 {min_length} 项）", "too few items"),
    "too_long": Message("条目太多（最多 {max_length} 项）", "too many items"),
    "list_type": Message("应为列表", "should be a list"),
    "dict_type": Message("应为对象", "should be an object"),
    "model_type": Message("应为对象", "should be an object"),
    "model_attributes_type": Message("应为对象", "should be an object"),
    "enum": Message("不是可选的值之一", "not one of the allowed values"),
    "literal_error": Message("不是可选的值之一", "not one of the allowed values"),
    "date_parsing": Message("日期格式应为 2024-05-01", "a date is written 2024-05-01"),
    "date_from_datetime_parsing": Message("日期格式应为 2024-05-01", "not a date"),
    "date_type": Message("应为日期", "should be a date"),
    "datetime_parsing": Message("时间格式应为 ISO 8601", "not an ISO 8601 time"),
    "datetime_from_date_parsing": Message("时间格式应为 ISO 8601", "not an ISO 8601 time"),
    "datetime_type": Message("应为时间", "should be a date and time"),
    "uuid_parsing": Message("应为 UUID", "should be a UUID"),
    "value_error": Message("值不正确", "invalid value"),
    "union_tag_invalid": Message("不是可选的值之一", "not one of the allowed values"),
    # Added with main's procedures, aid, discovery, HSDS checks and ledger jobs
    "before_application": Message("不能早于申请日期", "before the application"),
    "before_start": Message("不能早于该环节开始日期", "before the step started"),
    "started": Message("该环节已经开始", "this step has started already"),
    "not_started": Message("该环节尚未开始", "this step has not started"),
    "done": Message("该环节已经办结", "this step is done already"),
    "not_extendable": Message("该环节不能延期", "this step cannot be extended"),
    "unknown_procedure": Message("本县没有这项办理流程", "not a procedure this county runs"),
    "not_in_household": Message("该人员不在这户中", "not of this household"),
    "unknown_observation": Message("不在本县的探访观察清单中", "not on the county's checklist"),
    "state": Message("任务已经关闭", "the task is closed already"),
    "too_many": Message("结果太多，请缩小范围", "too many results: narrow the area"),
    "unknown": Message("找不到该记录", "no such record"),
    "draft_incomplete": Message("草稿还缺必填项，不能启用", "the draft lacks required fields"),
    "impossible_value": Message("数值不合理", "an impossible value"),
    "malformed_phone": Message("不是电话号码", "not a phone number"),
    "no_rows": Message("文件中没有读到任何资源", "no resources read from the file"),
    "ledger_format": Message("台账格式不对", "the ledger's format is wrong"),
    "set_by_token": Message("该字段由登录身份决定，不能填写", "set by the sign-in token"),
    "one_open_claim": Message(
        "这个微心愿已被认领：每个微心愿同时只能有一个认领",
        "the micro-wish is already claimed: one open claim a wish",
    ),
    "not_available": Message(
        "该资源在这一天不提供服务（不在服务期内）",
        "the resource is not available on that day (outside its dates)",
    ),
    "password_mismatch": Message("原密码不正确", "the current password is wrong"),
    "service_unavailable": Message(
        "服务暂时没有响应，请稍后重试", "the service did not answer: try again shortly"
    ),
    "subject_token": Message(
        "编号只能由 1 到 64 个英文字母、数字、- 或 _ 组成",
        "an id has 1 to 64 characters, each an ASCII letter, a digit, - or _",
    ),
}

TITLES: dict[str, str] = {
    "Bad request": "请求有误",
    "Validation failed": "输入有误",
    "Not found": "找不到",
    "Not Found": "找不到",
    "Conflict": "冲突",
    "Invalid transition": "当前状态不允许此操作",
    "Capacity exhausted": "名额已满",
    "Precondition failed": "记录已被他人修改",
    "Service unavailable": "服务暂时不可用",
    "Unauthorized": "未登录或登录已过期",
    "Forbidden": "无权操作",
    "Internal error": "内部错误",
    "Method Not Allowed": "不支持该请求方法",
    "Too Many Requests": "请求过于频繁",
    "Too many requests": "请求过于频繁",
}


def language(accept_language: str | None) -> Language:
    """`en` when the request prefers English over Chinese; Chinese otherwise (and by default)."""
    best: tuple[float, Language] = (0.0, "zh")
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        tag = tag.strip().lower()
        lang: Language | None = "en" if tag.startswith("en") else "zh" if tag[:2] == "zh" else None
        if lang is not None and quality > best[0]:
            best = (quality, lang)
    return best[1]


def message(rule: str, lang: Language, fallback: str, params: dict[str, Any] | None = None) -> str:
    """What `rule` says in `lang`; `fallback` (the raising code's own text) for a rule the
    catalog lacks, and for English where the raising code was more precise."""
    entry = CATALOG.get(rule)
    if entry is None or (lang == "en" and fallback):
        return fallback
    try:
        return entry.zh.format(**(params or {}))
    except (KeyError, IndexError, ValueError):  # the template without the parts it cannot fill
        text = re.sub(r"（[^（）]*\{[^{}]*\}[^（）]*）", "", entry.zh)
        return re.sub(r"\s*\{[^{}]*\}\s*", "", text)


def title(english: str, lang: Language) -> str:
    """A problem's title in `lang`."""
    return TITLES.get(english, english) if lang == "zh" else english
