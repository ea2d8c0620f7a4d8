# ruff: noqa: RUF001 - Chinese text takes full-width punctuation
"""The words of every message and call the ladder makes, in English and Chinese.

A template names what is said; the ladder's actions carry the template's name, the
language of the person addressed and the values to fill in. A value the sender does
not have (a location not yet known) reads as "unknown", never as a broken message.
The alert's own summary comes from the processors in English.
"""

from __future__ import annotations

from collections.abc import Mapping

from alerting.contacts import Language

TEMPLATES: Mapping[str, Mapping[Language, str]] = {
    "reminder": {
        "en": "{wearer}, a reminder from Vigil: {summary}.",
        "zh": "{wearer}，Vigil 提醒您：{summary}。",
    },
    "reminder_shared": {
        "en": "Vigil: a reminder sent to {wearer}: {summary}.",
        "zh": "Vigil：已提醒 {wearer}：{summary}。",
    },
    "grace": {
        "en": "Vigil {level} alert: {summary}. Press the button to cancel if you are fine.",
        "zh": "Vigil {level}级警报：{summary}。如果您没事，请按键取消。",
    },
    "alert_sms": {
        "en": "Vigil {level} alert for {wearer}: {summary}. "
        "Reply 1 if you are handling it, 2 if it is a false alarm.",
        "zh": "Vigil {level}级警报（{wearer}）：{summary}。回复 1 表示您来处理，回复 2 表示误报。",
    },
    "alarm_sms": {
        "en": "URGENT: Vigil {level} alert for {wearer}: {summary}. We are calling you. "
        "Reply 1 if you are handling it, 2 if it is a false alarm.",
        "zh": "紧急：Vigil {level}级警报（{wearer}）：{summary}。我们正在给您打电话。"
        "回复 1 表示您来处理，回复 2 表示误报。",
    },
    "alarm_call": {
        "en": "This is Vigil with an urgent alert for {wearer}: {summary}. "
        "Press 1 to confirm that you will help.",
        "zh": "这里是 Vigil，{wearer} 发生紧急警报：{summary}。请按 1 确认您会提供帮助。",
    },
    "alert_call": {
        "en": "This is Vigil with a {level} alert for {wearer}: {summary}. "
        "We could not send you a text. Press 1 if you will handle it.",
        "zh": "这里是 Vigil，{wearer} 发生{level}级警报：{summary}。短信无法送达。"
        "如果您来处理，请按 1。",
    },
    "services_call": {
        "en": "This is an automated emergency call from Vigil about {wearer}. {summary}. "
        "Location: {location}. Medical profile: {medical}. Call-back number: {callback}.",
        "zh": "这是 Vigil 的自动紧急呼叫，关于 {wearer}。{summary}。位置：{location}。"
        "病史：{medical}。回拨号码：{callback}。",
    },
    "services_sms": {
        "en": "Vigil emergency for {wearer}: {summary}. Location: {location}. "
        "Call back: {callback}.",
        "zh": "Vigil 紧急情况（{wearer}）：{summary}。位置：{location}。回拨：{callback}。",
    },
    "handled": {
        "en": "Vigil: {by} is handling the alert for {wearer}.",
        "zh": "Vigil：{by} 正在处理 {wearer} 的警报。",
    },
    "stand_down": {
        "en": "Vigil: stand down. The alert for {wearer} was cancelled.",
        "zh": "Vigil：解除警报。{wearer} 的警报已取消。",
    },
    "all_clear": {
        "en": "Vigil: the alert for {wearer} is {what}: {summary}.",
        "zh": "Vigil：{wearer} 的警报已{what}：{summary}。",
    },
    # Scheduled reminders (alerting/reminders.py), spoken on the band; ``_note`` adds
    # the wearer's own words.
    "reminder_medication": {
        "en": "{wearer}, it is time to take your medication.",
        "zh": "{wearer}，该吃药了。",
    },
    "reminder_medication_note": {
        "en": "{wearer}, it is time to take your medication: {note}.",
        "zh": "{wearer}，该吃药了：{note}。",
    },
    "reminder_water": {
        "en": "{wearer}, time for a glass of water.",
        "zh": "{wearer}，该喝水了。",
    },
    "reminder_water_note": {
        "en": "{wearer}, time for a glass of water: {note}.",
        "zh": "{wearer}，该喝水了：{note}。",
    },
    "reminder_exercise": {
        "en": "{wearer}, time for your exercise.",
        "zh": "{wearer}，该运动了。",
    },
    "reminder_exercise_note": {
        "en": "{wearer}, time for your exercise: {note}.",
        "zh": "{wearer}，该运动了：{note}。",
    },
    "reminder_sleep": {
        "en": "{wearer}, it is time to get ready for bed.",
        "zh": "{wearer}，该准备睡觉了。",
    },
    "reminder_sleep_note": {
        "en": "{wearer}, it is time to get ready for bed: {note}.",
        "zh": "{wearer}，该准备睡觉了：{note}。",
    },
}

_WORDS: Mapping[Language, Mapping[str, str]] = {
    "en": {"unknown": "unknown"},
    "zh": {
        "unknown": "未知",
        "resolved": "解除",
        "retracted": "撤回",
        "yellow": "黄色",
        "orange": "橙色",
        "red": "红色",
    },
}


_TRANSLATED = frozenset({"level", "what"})  # values that are words of ours, not names


class _Filled(dict[str, str]):
    def __init__(self, values: Mapping[str, str], unknown: str) -> None:
        super().__init__(values)
        self._unknown = unknown

    def __missing__(self, key: str) -> str:
        return self._unknown


def render(template: str, language: Language, params: Mapping[str, str]) -> str:
    """The text of ``template`` in ``language`` with ``params`` filled in.

    Raises ``KeyError`` for a template that does not exist (a bug, not bad input).
    """
    words = _WORDS[language]
    values = {
        k: (words.get(v, v) if k in _TRANSLATED else v) or words["unknown"]
        for k, v in params.items()
    }
    return TEMPLATES[template][language].format_map(_Filled(values, words["unknown"]))
