/* store/store_mongo.h — knobs of the MongoDB store for the tests that test that
 * backend itself (tests/store/mongo_real.c). The MongoDB store is opened like
 * any other by URL (store_open, store.h: mongodb:// and mongodb+srv://).
 * Must not: be included by src/ code outside src/store/ (layers above use
 * store.h only). */
#ifndef CTXD_STORE_STORE_MONGO_H
#define CTXD_STORE_STORE_MONGO_H

#include <stdbool.h>
#include "store/store.h"

/* Whether writes run in multi-document transactions (replica set or mongos,
 * unless transactions=off; always with transactions=on). False for a store
 * that is not a MongoDB one. */
bool store_mongo_uses_transactions(store_t *st);

#endif
