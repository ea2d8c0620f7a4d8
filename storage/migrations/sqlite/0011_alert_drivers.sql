-- NEWS2 alerts carry what scored (schemas.alerts.Driver), as "pulse:high=2,...".
ALTER TABLE alerts ADD COLUMN drivers TEXT NOT NULL DEFAULT '';
