DROP TABLE copy_sessions;
