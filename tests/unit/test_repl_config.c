/* test_repl_config.c - replica-set config parsing, validation, printing and
 * reconfig checks (src/repl/config.c), rule by rule: each rule has a config
 * that breaks it and one that passes. */
#include "repl/config.h"

#include "repl_cfg_testhelp.h"

#include <bson/bson.h>

/* Parses for reconfig, expects failure with code and a message containing needle. */
static int fails_with(const char *json, enum repl_config_purpose purpose, int code, const char *needle)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    int rc = parse_config(json, purpose, &cfg, &e);
    repl_config_destroy(&cfg);
    int ok = rc == -code && e.code == code && strstr(e.msg, needle) != NULL;
    if (!ok)
        fprintf(stderr, "  expected code %d containing \"%s\", got rc %d code %d \"%s\"\n", code, needle, rc, e.code,
                e.msg);
    err_clear(&e);
    return ok;
}

static int passes(const char *json, enum repl_config_purpose purpose)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    int rc = parse_config(json, purpose, &cfg, &e);
    repl_config_destroy(&cfg);
    if (rc != 0)
        fprintf(stderr, "  expected success, got %d \"%s\"\n", rc, e.msg);
    err_clear(&e);
    return rc == 0;
}

#define R REPL_CONFIG_FOR_RECONFIG
#define I REPL_CONFIG_FOR_INITIATE
#define S REPL_CONFIG_STORED
#define BAD 93

#define ONE(m) "{'_id': 'rs0', 'version': 1, 'members': [" m "]}"
#define PSS                                                                                                       \
    "{'_id': 0, 'host': 'h1:27017'}, {'_id': 1, 'host': 'h2:27017'}, {'_id': 2, 'host': 'h3:27017'}"

TEST(a_minimal_config_gets_every_default)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(parse_config(ONE("{'_id': 0, 'host': 'h1:27017'}"), R, &cfg, &e), 0);
    CHECK_EQ_STR(cfg.set_name, "rs0");
    CHECK_EQ_INT(cfg.version, 1);
    CHECK_EQ_INT(cfg.term, -1);
    CHECK(cfg.is_write_concern_majority_journal_default);
    CHECK_EQ_INT(cfg.n_members, 1);
    CHECK_EQ_STR(cfg.members[0].host, "h1:27017");
    CHECK(cfg.members[0].priority == 1.0);
    CHECK_EQ_INT(cfg.members[0].votes, 1);
    CHECK(cfg.members[0].builds_indexes);
    CHECK(!cfg.members[0].is_hidden && !cfg.members[0].is_arbiter);
    CHECK(cfg.members[0].tags != NULL && bson_empty(cfg.members[0].tags));
    CHECK(cfg.settings.is_chaining_allowed);
    CHECK_EQ_INT(cfg.settings.heartbeat_interval_ms, 2000);
    CHECK_EQ_INT(cfg.settings.heartbeat_timeout_secs, 10);
    CHECK_EQ_INT(cfg.settings.election_timeout_ms, 10000);
    CHECK_EQ_INT(cfg.settings.catch_up_timeout_ms, -1);
    CHECK_EQ_INT(cfg.settings.catch_up_takeover_delay_ms, 30000);
    CHECK(bson_empty(cfg.settings.get_last_error_modes));
    CHECK(!cfg.settings.has_replica_set_id);
    repl_config_destroy(&cfg);
}

TEST(numbers_of_any_numeric_type_are_accepted)
{
    CHECK(passes("{'_id': 'rs0', 'version': 1.0, 'protocolVersion': {'$numberLong': '1'}, 'members': [{'_id': "
                 "{'$numberLong': '0'}, 'host': 'h1:1', 'priority': 2, 'votes': 1.0}]}",
                 R));
    CHECK(passes("{'_id': 'rs0', 'version': {'$numberDecimal': '3'}, 'protocolVersion': 1.0, 'members': [{'_id': "
                 "0, 'host': 'h1:1', 'priority': {'$numberDecimal': '2.5'}, 'votes': {'$numberLong': '1'}}]}",
                 R));
    CHECK(fails_with(ONE("{'_id': 0.5, 'host': 'h1:1'}"), R, 14, "members[0]._id must be an integer"));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1.5, 'members': [{'_id': 0, 'host': 'h:1'}]}", R, 14, "version"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h1:1', 'priority': '1'}"), R, 14, "members[0].priority"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 5}"), R, 14, "members[0].host"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1', 'hidden': 'yes'}"), R, 14, "members[0].hidden"));
    CHECK(passes(ONE("{'_id': 0, 'host': 'h:1', 'arbiterOnly': 0, 'buildIndexes': 1}"), R));
}

TEST(unknown_fields_are_refused_and_named)
{
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'membres': [], 'members': [{'_id': 0, 'host': 'h:1'}]}", R,
                     40415, "'ReplSetConfig.membres' is an unknown field"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1', 'prio': 1}"), R, 40415, "'MemberConfig.prio'"));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}], 'settings': "
                     "{'chaining': true}}",
                     R, 40415, "settings.chaining"));
}

TEST(required_fields_must_be_present)
{
    CHECK(fails_with("{'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}]}", R, 40414, "ReplSetConfig._id"));
    CHECK(fails_with("{'_id': 'rs0', 'members': [{'_id': 0, 'host': 'h:1'}]}", R, 40414, "version"));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1}", R, 40414, "members"));
    CHECK(fails_with(ONE("{'host': 'h:1'}"), R, 40414, "MemberConfig._id"));
    CHECK(fails_with(ONE("{'_id': 0}"), R, 40414, "MemberConfig.host"));
    CHECK(fails_with("{}", R, 40414, "_id"));
    CHECK(fails_with("{'_id': '', 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}]}", R, BAD, "non-empty _id"));
}

TEST(wrong_container_types_are_refused)
{
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'members': {'0': {'_id': 0, 'host': 'h:1'}}}", R, 14,
                     "'members' is the wrong type 'object'"));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'members': [5]}", R, 14, "members[0]"));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}], 'settings': 1}", R, 14,
                     "settings"));
    CHECK(fails_with("{'_id': 7, 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}]}", R, 14, "_id"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1', 'tags': 'dc1'}"), R, 14, "members[0].tags"));
}

TEST(version_must_be_one_at_initiate_and_positive_otherwise)
{
    CHECK(passes("{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}]}", I));
    CHECK(fails_with("{'_id': 'rs0', 'version': 2, 'members': [{'_id': 0, 'host': 'h:1'}]}", I, BAD,
                     "version must be 1 for replSetInitiate"));
    CHECK(passes("{'_id': 'rs0', 'version': 2, 'members': [{'_id': 0, 'host': 'h:1'}]}", R));
    CHECK(fails_with("{'_id': 'rs0', 'version': 0, 'members': [{'_id': 0, 'host': 'h:1'}]}", R, BAD,
                     "version field value of 0 is out of range"));
    CHECK(fails_with("{'_id': 'rs0', 'version': {'$numberLong': '4294967296'}, 'members': [{'_id': 0, 'host': "
                     "'h:1'}]}",
                     R, BAD, "out of range"));
}

TEST(initiate_sets_the_initial_term_and_refuses_a_replica_set_id)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(
        parse_config("{'_id': 'rs0', 'version': 1, 'term': 5, 'members': [{'_id': 0, 'host': 'h:1'}]}", I, &cfg, &e),
        0);
    CHECK_EQ_INT(cfg.term, 0);
    repl_config_destroy(&cfg);
    CHECK_EQ_INT(
        parse_config("{'_id': 'rs0', 'version': 3, 'term': 5, 'members': [{'_id': 0, 'host': 'h:1'}]}", S, &cfg, &e),
        0);
    CHECK_EQ_INT(cfg.term, 5);
    repl_config_destroy(&cfg);
    const char *with_id = "{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}], 'settings': "
                          "{'replicaSetId': {'$oid': '5f1a2b3c4d5e6f7081920a1b'}}}";
    CHECK(fails_with(with_id, I, BAD, "cannot contain 'settings.replicaSetId'"));
    CHECK(passes(with_id, R));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}], 'settings': "
                     "{'replicaSetId': 'abc'}}",
                     R, 14, "replicaSetId"));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'term': -2, 'members': [{'_id': 0, 'host': 'h:1'}]}", R, BAD,
                     "term"));
}

TEST(protocol_version_must_be_one)
{
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'protocolVersion': 0, 'members': [{'_id': 0, 'host': 'h:1'}]}",
                     R, BAD, "protocolVersion field value of 0 is not 1"));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'protocolVersion': '1', 'members': [{'_id': 0, 'host': 'h:1'}]}",
                     R, 14, "protocolVersion"));
    CHECK(passes("{'_id': 'rs0', 'version': 1, 'protocolVersion': 1, 'members': [{'_id': 0, 'host': 'h:1'}]}", R));
}

TEST(priority_must_be_between_0_and_1000)
{
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1', 'priority': 1001}"), R, BAD,
                     "members[0].priority must be between 0 and 1000, got 1001"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1', 'priority': -1}"), R, BAD, "priority must be between 0 and 1000"));
    CHECK(passes(ONE("{'_id': 0, 'host': 'h:1', 'priority': 1000}"), R));
    CHECK(passes(ONE("{'_id': 0, 'host': 'h:1', 'priority': 0.5}"), R));
}

TEST(votes_must_be_0_or_1)
{
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'votes': 2}"), R, BAD,
                     "members[1].votes field value is 2. Must be 0 or 1"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'votes': 0.5}"), R, BAD,
                     "Must be 0 or 1"));
    CHECK(passes(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'votes': 0}"), R));
}

/* Each member kind that may never be primary: implied priority 0 when
 * omitted, an error when a positive priority is given. */
TEST(non_voting_hidden_delayed_and_no_index_members_have_priority_0)
{
    const char *kinds[][2] = {
        {"'votes': 0", "non-voting (votes:0)"},
        {"'hidden': true", "hidden=true"},
        {"'secondaryDelaySecs': 3600", "secondaryDelaySecs is used"},
        {"'slaveDelay': 3600", "secondaryDelaySecs is used"},
        {"'buildIndexes': false", "buildIndexes=false"},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char json[512], msg[128];
        struct repl_config cfg;
        struct err e;
        err_init(&e);
        snprintf(json, sizeof json, ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', %s}"), kinds[k][0]);
        CHECK_EQ_INT(parse_config(json, R, &cfg, &e), 0);
        CHECK(cfg.members[1].priority == 0);
        CHECK(!repl_config_is_electable(&cfg, 1));
        repl_config_destroy(&cfg);
        snprintf(json, sizeof json, ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'priority': 2, %s}"),
                 kinds[k][0]);
        snprintf(msg, sizeof msg, "members[1].priority must be 0 when %s", kinds[k][1]);
        CHECK(fails_with(json, R, BAD, msg));
        snprintf(json, sizeof json, ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'priority': 0, %s}"),
                 kinds[k][0]);
        CHECK(passes(json, R));
    }
}

TEST(secondary_delay_has_a_range_and_one_name)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(parse_config(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'slaveDelay': 60, 'hidden': "
                                  "true}"),
                              R, &cfg, &e),
                 0);
    CHECK_EQ_INT(cfg.members[1].secondary_delay_secs, 60);
    repl_config_destroy(&cfg);
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'secondaryDelaySecs': 31622401}"), R,
                     BAD, "secondaryDelaySecs field value of 31622401 is out of range"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'secondaryDelaySecs': -1}"), R, BAD,
                     "out of range"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'secondaryDelaySecs': 5, "
                         "'slaveDelay': 5}"),
                     R, BAD, "both secondaryDelaySecs and slaveDelay"));
    CHECK(passes(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'secondaryDelaySecs': 31622400}"), R));
}

TEST(arbiters_get_priority_0_must_vote_and_carry_no_tags)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(parse_config(ONE(PSS ", {'_id': 3, 'host': 'a:1', 'arbiterOnly': true}"), R, &cfg, &e), 0);
    CHECK(cfg.members[3].is_arbiter);
    CHECK(cfg.members[3].priority == 0);
    repl_config_destroy(&cfg);
    CHECK(passes(ONE(PSS ", {'_id': 3, 'host': 'a:1', 'arbiterOnly': true, 'priority': 1}"), R));
    CHECK(passes(ONE(PSS ", {'_id': 3, 'host': 'a:1', 'arbiterOnly': true, 'priority': 0}"), R));
    CHECK(fails_with(ONE(PSS ", {'_id': 3, 'host': 'a:1', 'arbiterOnly': true, 'priority': 2}"), R, BAD,
                     "members[3].priority must be 0 for arbiters"));
    CHECK(fails_with(ONE(PSS ", {'_id': 3, 'host': 'a:1', 'arbiterOnly': true, 'votes': 0}"), R, BAD,
                     "arbiter must vote"));
    CHECK(fails_with(ONE(PSS ", {'_id': 3, 'host': 'a:1', 'arbiterOnly': true, 'tags': {'dc': 'x'}}"), R, BAD,
                     "cannot set tags on arbiters"));
}

TEST(tally_refuses_as_many_arbiters_as_data_bearing_voters)
{
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'a:1', 'arbiterOnly': true}"), R, BAD,
                     "contains 1 arbiters and 1 data-bearing voting members"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1'}, {'_id': 2, 'host': 'a:1', "
                         "'arbiterOnly': true}, {'_id': 3, 'host': 'a2:1', 'arbiterOnly': true}"),
                     R, BAD, "fewer arbiters than data-bearing voting members"));
    /* A non-voting data member is no help. */
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1', 'votes': 0}, {'_id': 2, 'host': "
                         "'a:1', 'arbiterOnly': true}"),
                     R, BAD, "arbiters"));
    CHECK(passes(ONE("{'_id': 0, 'host': 'h:1'}, {'_id': 1, 'host': 'h2:1'}, {'_id': 2, 'host': 'a:1', "
                     "'arbiterOnly': true}"),
                 R));
}

TEST(at_least_one_member_must_be_electable)
{
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1', 'priority': 0}, {'_id': 1, 'host': 'h2:1', 'priority': 0}"), R,
                     BAD, "at least one non-arbiter member with priority > 0"));
    CHECK(passes(ONE("{'_id': 0, 'host': 'h:1', 'priority': 0}, {'_id': 1, 'host': 'h2:1', 'priority': 0.001}"), R));
}

static void build_members(char *json, size_t size, int n_members, int n_voters)
{
    size_t len = (size_t)snprintf(json, size, "{'_id': 'rs0', 'version': 1, 'members': [");
    for (int i = 0; i < n_members; i++)
        len += (size_t)snprintf(json + len, size - len, "%s{'_id': %d, 'host': 'h%d:27017'%s}", i ? ", " : "", i, i,
                                i < n_voters ? "" : ", 'votes': 0");
    snprintf(json + len, size - len, "]}");
}

TEST(at_most_7_voters_and_50_members)
{
    char json[8192];
    build_members(json, sizeof json, 8, 8);
    CHECK(fails_with(json, R, BAD,
                     "Replica set configuration contains 8 voting members, but must be at least 1 and no more than 7"));
    build_members(json, sizeof json, 8, 7);
    CHECK(passes(json, R));
    build_members(json, sizeof json, 50, 7);
    CHECK(passes(json, R));
    build_members(json, sizeof json, 51, 7);
    CHECK(fails_with(json, R, BAD, "contains 51 members, but must have at least 1 and no more than 50"));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'members': []}", R, BAD, "contains 0 members"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1', 'votes': 0}"), R, BAD, "contains 0 voting members"));
}

TEST(member_ids_and_hosts_must_be_unique)
{
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h1:27017'}, {'_id': 0, 'host': 'h2:27017'}"), R, BAD,
                     "Found two member configurations with same _id field, members.0._id == members.1._id == 0"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h1:27017'}, {'_id': 1, 'host': 'h1:27017'}"), R, BAD,
                     "Found two member configurations with same host field, members.0.host == members.1.host == "
                     "h1:27017"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'H1:27017'}, {'_id': 1, 'host': 'h1:27017'}"), R, BAD,
                     "same host field"));
    CHECK(passes(ONE("{'_id': 0, 'host': 'h1:27017'}, {'_id': 1, 'host': 'h1:27018'}"), R));
    CHECK(fails_with(ONE("{'_id': -1, 'host': 'h1:27017'}"), R, BAD, "members[0]._id field value of -1 is out of "
                                                                     "range"));
}

TEST(hosts_must_be_host_colon_port)
{
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h1'}"), R, BAD, "members[0].host must be of the form \"host:port\""));
    CHECK(fails_with(ONE("{'_id': 0, 'host': ':27017'}"), R, BAD, "host:port"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h1:'}"), R, BAD, "empty port"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h1:0'}"), R, BAD, "between 1 and 65535"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h1:65536'}"), R, BAD, "between 1 and 65535"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h1:99999999999999'}"), R, BAD, "invalid port"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h1:27a'}"), R, BAD, "invalid port"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'a:b:1'}"), R, BAD, "host:port"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': '[::1]'}"), R, BAD, "host:port"));
    CHECK(passes(ONE("{'_id': 0, 'host': '[fe80::1]:27017'}"), R));
    CHECK(passes(ONE("{'_id': 0, 'host': 'db-1.example.com:65535'}"), R));
}

TEST(localhost_is_all_or_none)
{
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'localhost:27017'}, {'_id': 1, 'host': 'h2:27017'}"), R, BAD,
                     "Either all host names in a replica set configuration must be localhost references, or none "
                     "must be; found 1 out of 2"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': '127.0.0.1:27017'}, {'_id': 1, 'host': '10.0.0.2:27017'}"), R, BAD,
                     "found 1 out of 2"));
    CHECK(passes(ONE("{'_id': 0, 'host': 'localhost:27017'}, {'_id': 1, 'host': '127.0.0.1:27018'}, {'_id': 2, "
                     "'host': '[::1]:27019'}"),
                 R));
}

TEST(get_last_error_defaults_must_be_w1_wtimeout0)
{
    const char *pre = "{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}], 'settings': "
                      "{'getLastErrorDefaults': ";
    char json[512];
    snprintf(json, sizeof json, "%s{'w': 1, 'wtimeout': 0}}}", pre);
    CHECK(passes(json, R));
    snprintf(json, sizeof json, "%s{'w': 'majority'}}}", pre);
    CHECK(fails_with(json, R, BAD, "getLastErrorDefaults must be {w: 1, wtimeout: 0}"));
    snprintf(json, sizeof json, "%s{'w': 1, 'wtimeout': 100}}}", pre);
    CHECK(fails_with(json, R, BAD, "'wtimeout'"));
    snprintf(json, sizeof json, "%s{'w': 1, 'j': true}}}", pre);
    CHECK(fails_with(json, R, BAD, "'j'"));
}

#define TAGGED                                                                                                    \
    "{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h1:1', 'tags': {'dc': 'east'}}, {'_id': 1, "  \
    "'host': 'h2:1', 'tags': {'dc': 'west', 'rack': 'r1'}}, {'_id': 2, 'host': 'h3:1'}], 'settings': "           \
    "{'getLastErrorModes': "

TEST(custom_write_concern_modes_are_checked)
{
    CHECK(passes(TAGGED "{'multiDC': {'dc': 2}, 'oneRack': {'rack': 1}}}}", R));
    CHECK(fails_with(TAGGED "{'multiDC': {'region': 2}}}}", R, BAD,
                     "Custom write concern mode 'multiDC' uses tag 'region', which no replica set member has"));
    CHECK(fails_with(TAGGED "{'multiDC': {'dc': 0}}}}", R, BAD, "must be positive"));
    CHECK(fails_with(TAGGED "{'multiDC': {'dc': 1.5}}}}", R, 14, "settings.getLastErrorModes.multiDC.dc"));
    CHECK(fails_with(TAGGED "{'multiDC': {'dc': 'two'}}}}", R, 14, "settings.getLastErrorModes.multiDC.dc"));
    CHECK(fails_with(TAGGED "{'multiDC': 2}}}", R, 14, "settings.getLastErrorModes.multiDC"));
    CHECK(fails_with(TAGGED "{'majority': {'dc': 1}}}}", R, BAD, "reserved"));
    CHECK(fails_with(TAGGED "[]}}", R, 14, "getLastErrorModes"));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1', 'tags': {'dc': 1}}"), R, BAD,
                     "members[0].tags.dc field has non-string value of type int"));
}

TEST(settings_are_parsed_and_ranges_checked)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(parse_config("{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}], 'settings': "
                              "{'chainingAllowed': false, 'heartbeatIntervalMillis': 500, 'heartbeatTimeoutSecs': 3, "
                              "'electionTimeoutMillis': 1500, 'catchUpTimeoutMillis': 0, 'catchUpTakeoverDelayMillis': "
                              "-1}}",
                              R, &cfg, &e),
                 0);
    CHECK(!cfg.settings.is_chaining_allowed);
    CHECK_EQ_INT(cfg.settings.heartbeat_interval_ms, 500);
    CHECK_EQ_INT(cfg.settings.heartbeat_timeout_secs, 3);
    CHECK_EQ_INT(cfg.settings.election_timeout_ms, 1500);
    CHECK_EQ_INT(cfg.settings.catch_up_timeout_ms, 0);
    CHECK_EQ_INT(cfg.settings.catch_up_takeover_delay_ms, -1);
    repl_config_destroy(&cfg);
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}], 'settings': "
                     "{'electionTimeoutMillis': 0}}",
                     R, BAD, "settings.electionTimeoutMillis field value of 0 is out of range"));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h:1'}], 'settings': "
                     "{'catchUpTimeoutMillis': -2}}",
                     R, BAD, "settings.catchUpTimeoutMillis"));
    CHECK(fails_with("{'_id': 'rs0', 'version': 1, 'configsvr': true, 'members': [{'_id': 0, 'host': 'h:1'}]}", R,
                     BAD, "configsvr"));
    CHECK(passes("{'_id': 'rs0', 'version': 1, 'configsvr': false, 'members': [{'_id': 0, 'host': 'h:1'}]}", R));
    CHECK(fails_with(ONE("{'_id': 0, 'host': 'h:1', 'horizons': {'x': 'y:1'}}"), R, BAD, "horizons"));
}

TEST(newly_added_is_only_accepted_from_storage)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    const char *json = ONE(PSS ", {'_id': 3, 'host': 'h4:1', 'newlyAdded': true}");
    CHECK(fails_with(json, I, BAD, "members[3].newlyAdded is set by the server"));
    CHECK(fails_with(json, R, BAD, "newlyAdded"));
    CHECK_EQ_INT(parse_config(json, S, &cfg, &e), 0);
    CHECK(cfg.members[3].is_newly_added);
    CHECK_EQ_INT(repl_config_n_voters(&cfg), 3);
    CHECK_EQ_INT(repl_config_majority_vote_count(&cfg), 2);
    bson_t out = BSON_INITIALIZER;
    bson_iter_t it;
    repl_config_to_bson(&cfg, &out);
    CHECK(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "members.3.newlyAdded", &it) &&
          bson_iter_as_bool(&it));
    bson_destroy(&out);
    repl_config_destroy(&cfg);
}

/* The document rs.conf() prints, in order, with mongod's types. */
TEST(to_bson_has_the_rs_conf_shape)
{
    struct repl_config cfg;
    struct err e;
    bson_t out = BSON_INITIALIZER;
    bson_iter_t it, sub;
    err_init(&e);
    CHECK_EQ_INT(parse_config("{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'h1:27017'}], 'settings': "
                              "{'replicaSetId': {'$oid': '5f1a2b3c4d5e6f7081920a1b'}}}",
                              S, &cfg, &e),
                 0);
    cfg.term = 1;
    repl_config_to_bson(&cfg, &out);
    const char *top[] = {"_id", "version", "term", "protocolVersion", "writeConcernMajorityJournalDefault", "members",
                         "settings"};
    bson_type_t top_types[] = {BSON_TYPE_UTF8, BSON_TYPE_INT32, BSON_TYPE_INT64, BSON_TYPE_INT64,
                               BSON_TYPE_BOOL, BSON_TYPE_ARRAY, BSON_TYPE_DOCUMENT};
    int k = 0;
    bson_iter_init(&it, &out);
    while (bson_iter_next(&it) && k < 7) {
        CHECK_EQ_STR(bson_iter_key(&it), top[k]);
        CHECK_EQ_INT(bson_iter_type(&it), top_types[k]);
        k++;
    }
    CHECK_EQ_INT(k, 7);
    const char *mem[] = {"_id", "host", "arbiterOnly", "buildIndexes", "hidden", "priority", "tags",
                         "secondaryDelaySecs", "votes"};
    bson_type_t mem_types[] = {BSON_TYPE_INT32, BSON_TYPE_UTF8, BSON_TYPE_BOOL,
                               BSON_TYPE_BOOL, BSON_TYPE_BOOL, BSON_TYPE_DOUBLE,
                               BSON_TYPE_DOCUMENT, BSON_TYPE_INT64, BSON_TYPE_INT32};
    k = 0;
    CHECK(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "members.0", &sub) &&
          bson_iter_recurse(&sub, &it));
    while (bson_iter_next(&it) && k < 9) {
        CHECK_EQ_STR(bson_iter_key(&it), mem[k]);
        CHECK_EQ_INT(bson_iter_type(&it), mem_types[k]);
        k++;
    }
    CHECK_EQ_INT(k, 9);
    const char *set[] = {"chainingAllowed", "heartbeatIntervalMillis", "heartbeatTimeoutSecs",
                         "electionTimeoutMillis", "catchUpTimeoutMillis", "catchUpTakeoverDelayMillis",
                         "getLastErrorModes", "getLastErrorDefaults", "replicaSetId"};
    k = 0;
    CHECK(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "settings", &sub) &&
          bson_iter_recurse(&sub, &it));
    while (bson_iter_next(&it) && k < 9) {
        CHECK_EQ_STR(bson_iter_key(&it), set[k]);
        k++;
    }
    CHECK_EQ_INT(k, 9);
    CHECK(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "settings.getLastErrorDefaults.w", &it) &&
          bson_iter_int32(&it) == 1);
    bson_destroy(&out);
    /* term -1 (force reconfig) is left out, as mongod does. */
    cfg.term = -1;
    bson_init(&out);
    repl_config_to_bson(&cfg, &out);
    CHECK(!bson_has_field(&out, "term"));
    bson_destroy(&out);
    repl_config_destroy(&cfg);
}

TEST(parse_then_print_then_parse_is_stable)
{
    const char *json =
        "{'_id': 'rs0', 'version': 7, 'term': 3, 'writeConcernMajorityJournalDefault': false, 'members': [{'_id': 0, "
        "'host': 'h1:1', 'priority': 5, 'tags': {'dc': 'east'}}, {'_id': 1, 'host': 'h2:1', 'tags': {'dc': "
        "'west'}}, {'_id': 2, 'host': 'h3:1', 'hidden': true, 'slaveDelay': 3600, 'buildIndexes': false}, {'_id': "
        "3, 'host': 'h4:1', 'votes': 0}, {'_id': 5, 'host': 'a:1', 'arbiterOnly': true}], 'settings': "
        "{'chainingAllowed': false, 'electionTimeoutMillis': 5000, 'getLastErrorModes': {'multiDC': {'dc': 2}}, "
        "'replicaSetId': {'$oid': '5f1a2b3c4d5e6f7081920a1b'}}}";
    struct repl_config a, b;
    struct err e;
    bson_t out1 = BSON_INITIALIZER, out2 = BSON_INITIALIZER;
    err_init(&e);
    CHECK_EQ_INT(parse_config(json, S, &a, &e), 0);
    repl_config_to_bson(&a, &out1);
    CHECK_EQ_INT(repl_config_parse(&out1, S, &b, &e), 0);
    repl_config_destroy(&b);
    CHECK_EQ_INT(repl_config_parse(&out1, R, &b, &e), 0);
    repl_config_to_bson(&b, &out2);
    CHECK(bson_equal(&out1, &out2));
    CHECK_EQ_INT(b.version, 7);
    CHECK_EQ_INT(b.term, 3);
    CHECK(!b.is_write_concern_majority_journal_default);
    CHECK_EQ_INT(b.members[2].secondary_delay_secs, 3600);
    CHECK(b.members[2].priority == 0 && !b.members[2].builds_indexes && b.members[2].is_hidden);
    CHECK(b.members[0].priority == 5);
    CHECK(b.members[4].is_arbiter && b.members[4].id == 5);
    CHECK(!b.settings.is_chaining_allowed);
    CHECK(b.settings.has_replica_set_id);
    CHECK(bson_equal(a.settings.get_last_error_modes, b.settings.get_last_error_modes));
    bson_destroy(&out1);
    bson_destroy(&out2);
    repl_config_destroy(&a);
    repl_config_destroy(&b);
}

TEST(copy_is_deep)
{
    struct repl_config a, b;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(parse_config(TAGGED "{'multiDC': {'dc': 2}}}}", R, &a, &e), 0);
    repl_config_copy(&b, &a);
    CHECK(b.members[0].tags != a.members[0].tags);
    CHECK(bson_equal(b.members[0].tags, a.members[0].tags));
    CHECK(b.settings.get_last_error_modes != a.settings.get_last_error_modes);
    repl_config_destroy(&a);
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, b.members[1].tags, "rack"));
    CHECK(bson_iter_init_find(&it, b.settings.get_last_error_modes, "multiDC"));
    repl_config_destroy(&b);
    repl_config_destroy(&b);
}

TEST(lookups_and_majorities)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(
        parse_config(ONE("{'_id': 4, 'host': 'Db1:27017'}, {'_id': 7, 'host': 'db2:27017'}, {'_id': 9, 'host': "
                         "'arb:27017', 'arbiterOnly': true}"),
                     R, &cfg, &e),
        0);
    CHECK_EQ_INT(repl_config_find_host(&cfg, "db1:27017"), 0);
    CHECK_EQ_INT(repl_config_find_host(&cfg, "DB2:27017"), 1);
    CHECK_EQ_INT(repl_config_find_host(&cfg, "db3:27017"), -1);
    CHECK_EQ_INT(repl_config_find_id(&cfg, 9), 2);
    CHECK_EQ_INT(repl_config_find_id(&cfg, 5), -1);
    CHECK_EQ_INT(repl_config_n_voters(&cfg), 3);
    CHECK_EQ_INT(repl_config_majority_vote_count(&cfg), 2);
    CHECK_EQ_INT(repl_config_write_majority(&cfg), 2);
    CHECK(repl_config_is_electable(&cfg, 0));
    CHECK(!repl_config_is_electable(&cfg, 2));
    repl_config_destroy(&cfg);
    /* P S S(votes 0) S(votes 0) S: 3 voters, majority 2. */
    CHECK_EQ_INT(
        parse_config(ONE(PSS ", {'_id': 3, 'host': 'h4:1', 'votes': 0}, {'_id': 4, 'host': 'h5:1', 'votes': 0}"), R,
                     &cfg, &e),
        0);
    CHECK_EQ_INT(repl_config_n_voters(&cfg), 3);
    CHECK_EQ_INT(repl_config_write_majority(&cfg), 2);
    repl_config_destroy(&cfg);
    /* 5 voters, one of them an arbiter: majority 3, write majority 3. */
    CHECK_EQ_INT(parse_config(ONE(PSS ", {'_id': 3, 'host': 'h4:1'}, {'_id': 4, 'host': 'a:1', 'arbiterOnly': true}"),
                              R, &cfg, &e),
                 0);
    CHECK_EQ_INT(repl_config_majority_vote_count(&cfg), 3);
    CHECK_EQ_INT(repl_config_write_majority(&cfg), 3);
    repl_config_destroy(&cfg);
}

TEST(config_versions_compare_term_first_unless_a_term_is_unset)
{
    CHECK(repl_config_compare_version(2, 1, 1, 5) > 0);
    CHECK(repl_config_compare_version(1, 5, 2, 1) < 0);
    CHECK(repl_config_compare_version(3, 4, 3, 5) < 0);
    CHECK(repl_config_compare_version(3, 5, 3, 5) == 0);
    CHECK(repl_config_compare_version(-1, 6, 9, 5) > 0);
    CHECK(repl_config_compare_version(9, 5, -1, 6) < 0);
    CHECK(repl_config_compare_version(-1, 5, 9, 5) == 0);
}

static int reconfig_check(const char *old_json, const char *new_json, bool is_force, int code, const char *needle)
{
    struct repl_config a, b;
    struct err e;
    err_init(&e);
    int ok = parse_config(old_json, S, &a, &e) == 0 && parse_config(new_json, R, &b, &e) == 0;
    if (!ok)
        fprintf(stderr, "  test config does not parse: %s\n", e.msg);
    int rc = repl_config_check_reconfig(&a, &b, is_force, &e);
    if (code == 0 ? rc != 0 : (rc != -code || strstr(e.msg, needle) == NULL)) {
        fprintf(stderr, "  reconfig check: expected %d \"%s\", got %d \"%s\"\n", code, needle ? needle : "", rc, e.msg);
        ok = 0;
    }
    repl_config_destroy(&a);
    repl_config_destroy(&b);
    err_clear(&e);
    return ok;
}

#define CFG(name, ver, term, members)                                                                           \
    "{'_id': '" name "', 'version': " #ver ", 'term': " #term ", 'members': [" members "]}"
#define M(id, host, extra) "{'_id': " #id ", 'host': '" host "'" extra "}"

TEST(reconfig_keeps_name_and_id_and_needs_a_newer_version)
{
    const char *old_cfg = CFG("rs0", 3, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", ""));
    CHECK(reconfig_check(old_cfg, CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", "")),
                         false, 0, NULL));
    CHECK(reconfig_check(old_cfg, CFG("rs1", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", "")),
                         false, 103, "differ in replica set name; old was rs0, and new is rs1"));
    CHECK(reconfig_check(old_cfg, CFG("rs0", 3, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", "")),
                         false, 103, "version must be greater than old"));
    CHECK(reconfig_check(old_cfg, CFG("rs0", 2, 3, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", "")),
                         false, 0, NULL));
    /* force skips the version rule but none of the others. */
    CHECK(reconfig_check(old_cfg, CFG("rs0", 3, -1, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", "")),
                         true, 0, NULL));
    CHECK(reconfig_check(old_cfg, CFG("rs1", 9, -1, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", "")),
                         true, 103, "replica set name"));
    const char *with_id = "{'_id': 'rs0', 'version': 3, 'term': 2, 'members': [{'_id': 0, 'host': 'h:1'}], "
                          "'settings': {'replicaSetId': {'$oid': '5f1a2b3c4d5e6f7081920a1b'}}}";
    CHECK(reconfig_check(with_id,
                         "{'_id': 'rs0', 'version': 4, 'term': 2, 'members': [{'_id': 0, 'host': 'h:1'}], "
                         "'settings': {'replicaSetId': {'$oid': '5f1a2b3c4d5e6f7081920a1c'}}}",
                         false, 103, "differ in replica set ID"));
    CHECK(reconfig_check(with_id, "{'_id': 'rs0', 'version': 4, 'term': 2, 'members': [{'_id': 0, 'host': 'h:1'}]}",
                         false, 0, NULL));
}

TEST(reconfig_keeps_member_identity_and_kind)
{
    const char *old_cfg = CFG("rs0", 3, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "a:1", ", 'arbiterOnly': true"));
    CHECK(reconfig_check(old_cfg, CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(3, "H2:1", "") "," M(2, "a:1", ", 'arbiterOnly': true")),
                         false, 103, "both have members with host of H2:1 but in the new configuration the _id field "
                                     "is 3 and in the old configuration it is 1"));
    CHECK(reconfig_check(old_cfg, CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "a:1", "")), false,
                         103, "arbiterOnly field for member a:1"));
    CHECK(reconfig_check(old_cfg,
                         CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", ", 'buildIndexes': false") "," M(2, "a:1", ", 'arbiterOnly': true")),
                         false, 103, "buildIndexes field for member h2:1"));
    /* A member may move to a new host under the same _id. */
    CHECK(reconfig_check(old_cfg, CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h9:1", "") "," M(2, "a:1", ", 'arbiterOnly': true")),
                         false, 0, NULL));
}

TEST(a_safe_reconfig_changes_at_most_one_voter)
{
    const char *old_cfg = CFG("rs0", 3, 2, M(0, "h1:1", ""));
    /* Adding one voter and any number of non-voters is fine. */
    CHECK(reconfig_check(old_cfg,
                         CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", ", 'votes': 0") "," M(3, "h4:1", ", 'votes': 0")),
                         false, 0, NULL));
    CHECK(reconfig_check(old_cfg, CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", "")), false,
                         103, "at most 1 voting member; this one changes 2"));
    CHECK(reconfig_check(old_cfg, CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", "")), true, 0,
                         NULL));
    const char *pss = CFG("rs0", 3, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", ""));
    /* Removing one voter, or turning one into a non-voter, is one change. */
    CHECK(reconfig_check(pss, CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", "")), false, 0, NULL));
    CHECK(reconfig_check(pss, CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(2, "h3:1", ", 'votes': 0")),
                         false, 0, NULL));
    CHECK(reconfig_check(pss, CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", ", 'votes': 0") "," M(2, "h3:1", ", 'votes': 0")),
                         false, 103, "changes 2"));
    /* Swapping a voter for another is two changes. */
    CHECK(reconfig_check(pss, CFG("rs0", 4, 2, M(0, "h1:1", "") "," M(1, "h2:1", "") "," M(3, "h4:1", "")), false, 103,
                         "changes 2"));
}

int main(void)
{
    RUN(a_minimal_config_gets_every_default);
    RUN(numbers_of_any_numeric_type_are_accepted);
    RUN(unknown_fields_are_refused_and_named);
    RUN(required_fields_must_be_present);
    RUN(wrong_container_types_are_refused);
    RUN(version_must_be_one_at_initiate_and_positive_otherwise);
    RUN(initiate_sets_the_initial_term_and_refuses_a_replica_set_id);
    RUN(protocol_version_must_be_one);
    RUN(priority_must_be_between_0_and_1000);
    RUN(votes_must_be_0_or_1);
    RUN(non_voting_hidden_delayed_and_no_index_members_have_priority_0);
    RUN(secondary_delay_has_a_range_and_one_name);
    RUN(arbiters_get_priority_0_must_vote_and_carry_no_tags);
    RUN(tally_refuses_as_many_arbiters_as_data_bearing_voters);
    RUN(at_least_one_member_must_be_electable);
    RUN(at_most_7_voters_and_50_members);
    RUN(member_ids_and_hosts_must_be_unique);
    RUN(hosts_must_be_host_colon_port);
    RUN(localhost_is_all_or_none);
    RUN(get_last_error_defaults_must_be_w1_wtimeout0);
    RUN(custom_write_concern_modes_are_checked);
    RUN(settings_are_parsed_and_ranges_checked);
    RUN(newly_added_is_only_accepted_from_storage);
    RUN(to_bson_has_the_rs_conf_shape);
    RUN(parse_then_print_then_parse_is_stable);
    RUN(copy_is_deep);
    RUN(lookups_and_majorities);
    RUN(config_versions_compare_term_first_unless_a_term_is_unset);
    RUN(reconfig_keeps_name_and_id_and_needs_a_newer_version);
    RUN(reconfig_keeps_member_identity_and_kind);
    RUN(a_safe_reconfig_changes_at_most_one_voter);
    return test_report();
}
