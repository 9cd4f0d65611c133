DROP TABLE subject_attempts;
