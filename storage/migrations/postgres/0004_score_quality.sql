-- Scores carry the quality of their inputs (scoring.vital_quality).
ALTER TABLE scores ADD COLUMN quality text NOT NULL DEFAULT 'good';
ALTER TABLE scores ADD COLUMN quality_flags text NOT NULL DEFAULT '';
