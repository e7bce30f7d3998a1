/*
 * pq_load.h - private to libjournal: libpq, loaded at run time.
 *
 * libjournal does not link libpq: a program that only opens LMDB stores
 * never loads it, nor the two dozen libraries it pulls in (Kerberos, LDAP,
 * TLS, ...). The first journal__pq_load() opens libpq.so.5 with dlopen()
 * and resolves every function below; the PostgreSQL backend calls it at
 * each open of a postgresql:// store, before any other libpq call. This
 * is what systemd does for its optional libraries (dlopen_many_sym_or_warn).
 *
 * Include this header instead of <libpq-fe.h>: it includes that header for
 * the types and constants, and turns each call of a listed function into a
 * call through the pointer resolved at load (PQclear(r) becomes
 * (journal__pq.PQclear)(r)). A libpq function used without being listed
 * here is a direct reference to libpq, which fails the link of
 * libjournal.so (-Wl,--no-undefined) and of the programs: add it to both
 * lists below. The list may hold more than the backend uses (the tests and
 * journal-bench use this header too); every function listed must exist
 * in libpq 10 and later, since a missing one fails the load.
 */
#ifndef JOURNAL_PQ_LOAD_H
#define JOURNAL_PQ_LOAD_H

#include <libpq-fe.h>

/* The soname loaded; the package that ships it is named in the error. */
#define JOURNAL__PQ_SONAME "libpq.so.5"

#define JOURNAL__PQ_FUNCTIONS(X)                                                                                       \
    X(PQbackendPID)                                                                                                    \
    X(PQbinaryTuples)                                                                                                  \
    X(PQcancel)                                                                                                        \
    X(PQclear)                                                                                                         \
    X(PQcmdStatus)                                                                                                     \
    X(PQcmdTuples)                                                                                                     \
    X(PQconnectdb)                                                                                                     \
    X(PQconnectdbParams)                                                                                               \
    X(PQconnectionNeedsPassword)                                                                                       \
    X(PQconnectPoll)                                                                                                   \
    X(PQconnectStart)                                                                                                  \
    X(PQconnectStartParams)                                                                                            \
    X(PQconninfo)                                                                                                      \
    X(PQconninfoFree)                                                                                                  \
    X(PQconninfoParse)                                                                                                 \
    X(PQconsumeInput)                                                                                                  \
    X(PQdb)                                                                                                            \
    X(PQerrorMessage)                                                                                                  \
    X(PQescapeIdentifier)                                                                                              \
    X(PQescapeLiteral)                                                                                                 \
    X(PQexec)                                                                                                          \
    X(PQexecParams)                                                                                                    \
    X(PQexecPrepared)                                                                                                  \
    X(PQfformat)                                                                                                       \
    X(PQfinish)                                                                                                        \
    X(PQflush)                                                                                                         \
    X(PQfname)                                                                                                         \
    X(PQfreeCancel)                                                                                                    \
    X(PQfreemem)                                                                                                       \
    X(PQftype)                                                                                                         \
    X(PQgetCancel)                                                                                                     \
    X(PQgetCopyData)                                                                                                   \
    X(PQgetisnull)                                                                                                     \
    X(PQgetlength)                                                                                                     \
    X(PQgetResult)                                                                                                     \
    X(PQgetvalue)                                                                                                      \
    X(PQhost)                                                                                                          \
    X(PQisBusy)                                                                                                        \
    X(PQisnonblocking)                                                                                                 \
    X(PQlibVersion)                                                                                                    \
    X(PQnfields)                                                                                                       \
    X(PQnotifies)                                                                                                      \
    X(PQntuples)                                                                                                       \
    X(PQparameterStatus)                                                                                               \
    X(PQprepare)                                                                                                       \
    X(PQputCopyData)                                                                                                   \
    X(PQputCopyEnd)                                                                                                    \
    X(PQreset)                                                                                                         \
    X(PQresultErrorField)                                                                                              \
    X(PQresultErrorMessage)                                                                                            \
    X(PQresultStatus)                                                                                                  \
    X(PQresStatus)                                                                                                     \
    X(PQsendPrepare)                                                                                                   \
    X(PQsendQuery)                                                                                                     \
    X(PQsendQueryParams)                                                                                               \
    X(PQsendQueryPrepared)                                                                                             \
    X(PQserverVersion)                                                                                                 \
    X(PQsetErrorVerbosity)                                                                                             \
    X(PQsetnonblocking)                                                                                                \
    X(PQsetNoticeProcessor)                                                                                            \
    X(PQsetNoticeReceiver)                                                                                             \
    X(PQsetSingleRowMode)                                                                                              \
    X(PQsocket)                                                                                                        \
    X(PQstatus)                                                                                                        \
    X(PQtransactionStatus)

/* One pointer per function, with the type of libpq's own declaration. */
struct journal__pq {
#define JOURNAL__PQ_FIELD(name) __typeof__(name) *name;
    JOURNAL__PQ_FUNCTIONS(JOURNAL__PQ_FIELD)
#undef JOURNAL__PQ_FIELD
};

extern struct journal__pq journal__pq;

/*
 * journal__pq_load() - load libpq once per process (thread-safe); later
 * calls return the first one's result.
 * @param[out] msg on failure, a static message naming the library, the
 *   package that ships it and the loader's reason; may be NULL.
 * @return 0, or -EPROTONOSUPPORT when libpq.so.5 cannot be loaded or lacks
 * a function (every pointer is then NULL).
 *
 * JOURNAL_TEST_LIBPQ, for the tests only, names the library to load
 * instead of libpq.so.5 (tests/test_libpq.c); it is ignored in setuid and
 * setgid programs.
 */
int journal__pq_load(const char **msg);

#ifndef JOURNAL__PQ_NO_MACROS
#define PQbackendPID (journal__pq.PQbackendPID)
#define PQbinaryTuples (journal__pq.PQbinaryTuples)
#define PQcancel (journal__pq.PQcancel)
#define PQclear (journal__pq.PQclear)
#define PQcmdStatus (journal__pq.PQcmdStatus)
#define PQcmdTuples (journal__pq.PQcmdTuples)
#define PQconnectdb (journal__pq.PQconnectdb)
#define PQconnectdbParams (journal__pq.PQconnectdbParams)
#define PQconnectionNeedsPassword (journal__pq.PQconnectionNeedsPassword)
#define PQconnectPoll (journal__pq.PQconnectPoll)
#define PQconnectStart (journal__pq.PQconnectStart)
#define PQconnectStartParams (journal__pq.PQconnectStartParams)
#define PQconninfo (journal__pq.PQconninfo)
#define PQconninfoFree (journal__pq.PQconninfoFree)
#define PQconninfoParse (journal__pq.PQconninfoParse)
#define PQconsumeInput (journal__pq.PQconsumeInput)
#define PQdb (journal__pq.PQdb)
#define PQerrorMessage (journal__pq.PQerrorMessage)
#define PQescapeIdentifier (journal__pq.PQescapeIdentifier)
#define PQescapeLiteral (journal__pq.PQescapeLiteral)
#define PQexec (journal__pq.PQexec)
#define PQexecParams (journal__pq.PQexecParams)
#define PQexecPrepared (journal__pq.PQexecPrepared)
#define PQfformat (journal__pq.PQfformat)
#define PQfinish (journal__pq.PQfinish)
#define PQflush (journal__pq.PQflush)
#define PQfname (journal__pq.PQfname)
#define PQfreeCancel (journal__pq.PQfreeCancel)
#define PQfreemem (journal__pq.PQfreemem)
#define PQftype (journal__pq.PQftype)
#define PQgetCancel (journal__pq.PQgetCancel)
#define PQgetCopyData (journal__pq.PQgetCopyData)
#define PQgetisnull (journal__pq.PQgetisnull)
#define PQgetlength (journal__pq.PQgetlength)
#define PQgetResult (journal__pq.PQgetResult)
#define PQgetvalue (journal__pq.PQgetvalue)
#define PQhost (journal__pq.PQhost)
#define PQisBusy (journal__pq.PQisBusy)
#define PQisnonblocking (journal__pq.PQisnonblocking)
#define PQlibVersion (journal__pq.PQlibVersion)
#define PQnfields (journal__pq.PQnfields)
#define PQnotifies (journal__pq.PQnotifies)
#define PQntuples (journal__pq.PQntuples)
#define PQparameterStatus (journal__pq.PQparameterStatus)
#define PQprepare (journal__pq.PQprepare)
#define PQputCopyData (journal__pq.PQputCopyData)
#define PQputCopyEnd (journal__pq.PQputCopyEnd)
#define PQreset (journal__pq.PQreset)
#define PQresultErrorField (journal__pq.PQresultErrorField)
#define PQresultErrorMessage (journal__pq.PQresultErrorMessage)
#define PQresultStatus (journal__pq.PQresultStatus)
#define PQresStatus (journal__pq.PQresStatus)
#define PQsendPrepare (journal__pq.PQsendPrepare)
#define PQsendQuery (journal__pq.PQsendQuery)
#define PQsendQueryParams (journal__pq.PQsendQueryParams)
#define PQsendQueryPrepared (journal__pq.PQsendQueryPrepared)
#define PQserverVersion (journal__pq.PQserverVersion)
#define PQsetErrorVerbosity (journal__pq.PQsetErrorVerbosity)
#define PQsetnonblocking (journal__pq.PQsetnonblocking)
#define PQsetNoticeProcessor (journal__pq.PQsetNoticeProcessor)
#define PQsetNoticeReceiver (journal__pq.PQsetNoticeReceiver)
#define PQsetSingleRowMode (journal__pq.PQsetSingleRowMode)
#define PQsocket (journal__pq.PQsocket)
#define PQstatus (journal__pq.PQstatus)
#define PQtransactionStatus (journal__pq.PQtransactionStatus)
#endif

#endif /* JOURNAL_PQ_LOAD_H */
