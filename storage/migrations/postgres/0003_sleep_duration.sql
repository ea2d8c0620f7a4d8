-- Sleep-stage samples carry how long the stage lasted; 0002 had no column for it.
ALTER TABLE readings ADD COLUMN duration_s real;
