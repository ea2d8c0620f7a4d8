-- Scores carry the quality of their inputs (scoring.vital_quality).
ALTER TABLE scores ADD COLUMN quality TEXT NOT NULL DEFAULT 'good';
ALTER TABLE scores ADD COLUMN quality_flags TEXT NOT NULL DEFAULT '';
