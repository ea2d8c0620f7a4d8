"""The dashboard's words in English and Chinese (simplified).

A page's language: the ``lang`` cookie the language switch sets, else the browser's
``Accept-Language``, else English. Every key exists in both tables (a test checks), so a
missing translation is a test failure, not an English word on a Chinese page.
"""

from __future__ import annotations

from typing import Final, Literal

Lang = Literal["en", "zh"]
LANGS: Final[tuple[Lang, ...]] = ("en", "zh")

EN: Final[dict[str, str]] = {
    "app": "Vigil",
    "sign_in": "Sign in",
    "sign_out": "Sign out",
    "user": "User",
    "password": "Password",
    "wrong_login": "Wrong user or password.",
    "locked": "Too many failed sign-ins: try again later.",
    "wearers": "Wearers",
    "wearer": "Wearer",
    "level": "Level",
    "last_reading": "Last reading",
    "no_data": "no data",
    "not_shared": "not shared with you",
    "not_shared_page": "This wearer has not shared this with you.",
    "none": "none",
    "vitals": "Vitals",
    "ecg": "ECG",
    "alerts": "Alerts",
    "location": "Location",
    "indices": "Indices",
    "queue": "Consultation queue",
    "live": "Live",
    "range": "Range",
    "heart_rate": "Heart rate (bpm)",
    "spo2": "SpO2 (%)",
    "blood_pressure": "Blood pressure (mmHg)",
    "temperature": "Temperature (°C)",
    "respiration": "Respiration (/min)",
    "stress": "Stress index",
    "fatigue": "Fatigue index",
    "mood": "Anxiety/depression screen",
    "ago": "ago",
    "just_now": "just now",
    "open": "open",
    "ended": "ended",
    "acknowledge": "Acknowledge",
    "cancel_alarm": "Cancel (false alarm)",
    "requested": "Request sent: the ladder stops within seconds.",
    "ladder_ended": "This ladder has ended.",
    "no_alerts": "No alerts in this range.",
    "timeline": "Ladder steps",
    "strip": "Strip",
    "r_peaks": "R-peaks",
    "af_suspected": "AF suspected",
    "sinus": "no AF",
    "no_strips": "No ECG strips in this range.",
    "trail": "Trail",
    "fences": "Fences",
    "no_fixes": "No location fixes in this range.",
    "scale": "scale",
    "state": "State",
    "priority": "Priority",
    "reason": "Reason",
    "created": "Created",
    "doctor": "Doctor",
    "planned": "Planned",
    "empty_queue": "Nothing waiting.",
    "green": "green (red case)",
    "routine": "routine",
    "language": "中文",
    "yellow": "yellow",
    "orange": "orange",
    "red": "red",
    "quiet": "quiet",
    "cause": "Cause",
    "phase": "Phase",
    "opened": "Opened",
    "samples": "samples",
}

ZH: Final[dict[str, str]] = {
    "app": "Vigil 守护",
    "sign_in": "登录",
    "sign_out": "退出",
    "user": "用户名",
    "password": "密码",
    "wrong_login": "用户名或密码错误。",
    "locked": "登录失败次数过多，请稍后再试。",
    "wearers": "佩戴者",
    "wearer": "佩戴者",
    "level": "级别",
    "last_reading": "最新读数",
    "no_data": "无数据",
    "not_shared": "未向您共享",
    "not_shared_page": "该佩戴者未向您共享此类数据。",
    "none": "无",
    "vitals": "生命体征",
    "ecg": "心电图",
    "alerts": "告警",
    "location": "位置",
    "indices": "指数",
    "queue": "会诊队列",
    "live": "实时",
    "range": "时间范围",
    "heart_rate": "心率 (次/分)",
    "spo2": "血氧 (%)",
    "blood_pressure": "血压 (mmHg)",
    "temperature": "体温 (°C)",
    "respiration": "呼吸 (次/分)",
    "stress": "压力指数",
    "fatigue": "疲劳指数",
    "mood": "焦虑/抑郁筛查",
    "ago": "前",
    "just_now": "刚刚",
    "open": "进行中",
    "ended": "已结束",
    "acknowledge": "确认处理",
    "cancel_alarm": "取消（误报）",
    "requested": "请求已发送：告警流程将在数秒内停止。",
    "ladder_ended": "该告警流程已结束。",
    "no_alerts": "此时间范围内没有告警。",
    "timeline": "告警流程步骤",
    "strip": "心电片段",
    "r_peaks": "R 波",
    "af_suspected": "疑似房颤",
    "sinus": "无房颤",
    "no_strips": "此时间范围内没有心电片段。",
    "trail": "轨迹",
    "fences": "电子围栏",
    "no_fixes": "此时间范围内没有定位数据。",
    "scale": "比例尺",
    "state": "状态",
    "priority": "优先级",
    "reason": "原因",
    "created": "创建时间",
    "doctor": "医生",
    "planned": "计划时间",
    "empty_queue": "暂无待处理的请求。",
    "green": "绿色通道（红色告警）",
    "routine": "常规",
    "language": "English",
    "yellow": "黄色",
    "orange": "橙色",
    "red": "红色",
    "quiet": "正常",
    "cause": "原因",
    "phase": "阶段",
    "opened": "开始时间",
    "samples": "采样点",
}

TABLES: Final[dict[Lang, dict[str, str]]] = {"en": EN, "zh": ZH}


def choose(cookie: str | None, accept_language: str | None) -> Lang:
    """The page's language: the cookie's, else the first of the browser's we have."""
    for lang in LANGS:
        if cookie == lang:
            return lang
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


def words(lang: Lang) -> dict[str, str]:
    """The table of ``lang``."""
    return TABLES[lang]
