"""Pure scoring functions: no clock, no environment, no logging, no I/O."""

from schemas.scores import News2Score
from scoring.news2 import Vitals, alert_level, clinical_risk, news2

__all__ = ["News2Score", "Vitals", "alert_level", "clinical_risk", "news2"]
