/* tests/unit/test_mongo_errclass.c — the libmongoc error -> err_code classes of
 * store_mongo.c (smongo_err) on the errors a real MongoDB 6/7 gives and the
 * emulator here cannot: duplicate key 11000 (and its bulk/update forms), time
 * limits, write conflicts, transient transaction labels, step-downs, network and
 * server-selection failures, authentication; that the class alone decides
 * retrying (err_retryable), and that the server's code is kept in e.native.
 * Must not: connect to a server (the errors are built by hand, as libmongoc
 * reports them with error API version 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "store/store_mongo_int.h"

static err_code cls(uint32_t domain, uint32_t code, const char *reply_json, err_t *e)
{
    bson_error_t be;
    bson_set_error(&be, domain, code, "server said %u", code);
    bson_t *reply = NULL;
    if (reply_json) {
        bson_error_t pe;
        reply = bson_new_from_json((const uint8_t *)reply_json, -1, &pe);
        assert_non_null(reply);
    }
    err_code rc = smongo_err(&be, reply, "insert", e);
    if (reply)
        bson_destroy(reply);
    return rc;
}

static void test_server_codes(void **st)
{
    (void)st;
    err_t e;
    /* duplicate key, as insert (11000), legacy update (11001) and findAndModify (12582) */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 11000, NULL, &e), ERR_UNIQUE);
    assert_int_equal(e.native, 11000);
    assert_non_null(strstr(e.msg, "insert"));
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 11001, NULL, &e), ERR_UNIQUE);
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 12582, NULL, &e), ERR_UNIQUE);
    /* the write-command form of a duplicate key (bulk writes) */
    assert_int_equal(cls(MONGOC_ERROR_COLLECTION, 11000, NULL, &e), ERR_UNIQUE);
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 50, NULL, &e), ERR_TIMEOUT);  /* MaxTimeMSExpired */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 262, NULL, &e), ERR_TIMEOUT); /* ExceededTimeLimit */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 112, NULL, &e), ERR_BUSY);    /* WriteConflict */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 251, NULL, &e), ERR_BUSY);    /* NoSuchTransaction */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 13, NULL, &e), ERR_AUTH);     /* Unauthorized */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 18, NULL, &e), ERR_AUTH); /* AuthenticationFailed */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 10107, NULL, &e), ERR_CONN); /* NotWritablePrimary */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 11600, NULL, &e),
                     ERR_CONN);                                          /* InterruptedAtShutdown */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 189, NULL, &e), ERR_CONN); /* PrimarySteppedDown */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 9001, NULL, &e), ERR_CONN); /* SocketException */
    /* anything else from the server is not retried */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 2, NULL, &e), ERR_FATAL); /* BadValue */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 121, NULL, &e),
                     ERR_FATAL); /* DocumentValidationFailure */
}

static void test_labels_and_client_errors(void **st)
{
    (void)st;
    err_t e;
    /* a label makes any server error transient: retried */
    assert_int_equal(
        cls(MONGOC_ERROR_SERVER, 2, "{\"errorLabels\": [\"TransientTransactionError\"]}", &e),
        ERR_BUSY);
    assert_int_equal(
        cls(MONGOC_ERROR_SERVER, 91, "{\"errorLabels\": [\"RetryableWriteError\"]}", &e), ERR_BUSY);
    /* a label that says nothing about retrying changes nothing */
    assert_int_equal(
        cls(MONGOC_ERROR_SERVER, 11000, "{\"errorLabels\": [\"NoWritesPerformed\"]}", &e),
        ERR_UNIQUE);
    /* no server within serverSelectionTimeoutMS, a broken socket: unreachable */
    assert_int_equal(
        cls(MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE, NULL, &e),
        ERR_CONN);
    assert_int_equal(cls(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET, NULL, &e), ERR_CONN);
    assert_int_equal(cls(MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE, NULL, &e),
                     ERR_AUTH);
    /* e may be NULL */
    assert_int_equal(cls(MONGOC_ERROR_SERVER, 11000, NULL, NULL), ERR_UNIQUE);
}

static void test_retry_follows_class(void **st)
{
    (void)st;
    err_t e;
    assert_true(err_retryable(cls(MONGOC_ERROR_SERVER, 112, NULL, &e)));
    assert_true(err_retryable(cls(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET, NULL, &e)));
    assert_false(err_retryable(cls(MONGOC_ERROR_SERVER, 11000, NULL, &e)));
    assert_false(
        err_retryable(cls(MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE, NULL, &e)));
    assert_false(err_retryable(cls(MONGOC_ERROR_SERVER, 121, NULL, &e)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_codes),
        cmocka_unit_test(test_labels_and_client_errors),
        cmocka_unit_test(test_retry_follows_class),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
