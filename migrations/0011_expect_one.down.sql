DROP FUNCTION signet_expect_one(bigint, text);
