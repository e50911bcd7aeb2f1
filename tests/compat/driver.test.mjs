// driver.test.mjs - the Node.js `mongodb` driver against tallyd: connect,
// CRUD, bulkWrite, countDocuments, aggregate, indexes, cursors, and the
// shape of server errors (MongoServerError code / codeName).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Int32, Long, MongoBulkWriteError, MongoClient, MongoServerError, ObjectId } from 'mongodb';
import { dbName, startServer } from './harness.mjs';

let server;
let client;

before(async () => {
  server = await startServer();
  client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
});

after(async () => {
  await client?.close();
  await server?.stop();
});

function freshDb() {
  return client.db(dbName('node'));
}

describe('connect', () => {
  test('ping and hello succeed and the server is a writable standalone', async () => {
    const admin = client.db('admin');
    assert.deepEqual(await admin.command({ ping: 1 }), { ok: 1 });
    const hello = await admin.command({ hello: 1 });
    assert.equal(hello.isWritablePrimary, true);
    assert.equal(hello.maxWireVersion, 17);
    assert.equal(hello.setName, undefined);
  });

  test('buildInfo reports version 6.0', async () => {
    const info = await client.db('admin').command({ buildInfo: 1 });
    assert.match(info.version, /^6\.0/);
    assert.deepEqual(info.versionArray.slice(0, 2), [6, 0]);
  });

  test('a second client with directConnection connects too', async () => {
    const c2 = new MongoClient(`${server.uri}?directConnection=true`, { serverSelectionTimeoutMS: 5000 });
    await c2.connect();
    assert.equal((await c2.db('admin').command({ ping: 1 })).ok, 1);
    await c2.close();
  });

  test('listDatabases through the admin helper', async () => {
    const db = freshDb();
    await db.collection('c').insertOne({ a: 1 });
    const { databases } = await client.db().admin().listDatabases();
    assert.ok(databases.some((d) => d.name === db.databaseName));
    await db.dropDatabase();
  });
});

describe('CRUD', () => {
  test('insertOne generates an ObjectId and findOne returns the document', async () => {
    const c = freshDb().collection('c');
    const r = await c.insertOne({ a: 1, s: 'x' });
    assert.ok(r.insertedId instanceof ObjectId);
    assert.deepEqual(await c.findOne({ _id: r.insertedId }), { _id: r.insertedId, a: 1, s: 'x' });
  });

  test('insertMany ordered reports a duplicate key as MongoBulkWriteError', async () => {
    const c = freshDb().collection('c');
    await assert.rejects(c.insertMany([{ _id: 1 }, { _id: 1 }, { _id: 2 }]), (err) => {
      assert.ok(err instanceof MongoBulkWriteError);
      assert.equal(err.code, 11000);
      assert.equal(err.result.insertedCount, 1);
      assert.equal(err.writeErrors.length ?? 1, 1);
      return true;
    });
    assert.equal(await c.countDocuments(), 1);
  });

  test('insertMany unordered keeps going after errors', async () => {
    const c = freshDb().collection('c');
    await assert.rejects(c.insertMany([{ _id: 1 }, { _id: 1 }, { _id: 2 }], { ordered: false }),
      MongoBulkWriteError);
    assert.equal(await c.countDocuments(), 2);
  });

  test('find with filter, projection, sort, skip and limit', async () => {
    const c = freshDb().collection('c');
    await c.insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i, g: i % 2, v: 20 - i })));
    const docs = await c.find({ g: 0 }, { projection: { _id: 1, v: 1 } }).sort({ v: 1 }).skip(2).limit(3)
      .toArray();
    assert.deepEqual(docs, [{ _id: 14, v: 6 }, { _id: 12, v: 8 }, { _id: 10, v: 10 }]);
  });

  test('updateOne, updateMany, replaceOne and upsert report counts', async () => {
    const c = freshDb().collection('c');
    await c.insertMany([{ _id: 1, n: 1 }, { _id: 2, n: 1 }, { _id: 3, n: 2 }]);
    let r = await c.updateOne({ n: 1 }, { $inc: { n: 10 } });
    assert.equal(r.matchedCount, 1);
    assert.equal(r.modifiedCount, 1);
    r = await c.updateMany({}, { $set: { t: true } });
    assert.equal(r.matchedCount, 3);
    r = await c.replaceOne({ _id: 3 }, { z: 1 });
    assert.equal(r.modifiedCount, 1);
    assert.deepEqual(await c.findOne({ _id: 3 }), { _id: 3, z: 1 });
    r = await c.updateOne({ _id: 9 }, { $set: { up: 1 } }, { upsert: true });
    assert.equal(r.upsertedId, 9);
    assert.equal(r.upsertedCount, 1);
  });

  test('deleteOne and deleteMany', async () => {
    const c = freshDb().collection('c');
    await c.insertMany([{ k: 1 }, { k: 1 }, { k: 2 }]);
    assert.equal((await c.deleteOne({ k: 1 })).deletedCount, 1);
    assert.equal((await c.deleteMany({})).deletedCount, 2);
  });

  test('findOneAndUpdate returns the document after with includeResultMetadata off', async () => {
    const c = freshDb().collection('c');
    await c.insertOne({ _id: 1, n: 1 });
    const doc = await c.findOneAndUpdate({ _id: 1 }, { $inc: { n: 1 } }, { returnDocument: 'after' });
    assert.deepEqual(doc, { _id: 1, n: 2 });
    const gone = await c.findOneAndDelete({ _id: 1 });
    assert.deepEqual(gone, { _id: 1, n: 2 });
    assert.equal(await c.findOneAndDelete({ _id: 1 }), null);
  });

  test('numeric types round-trip with promoteValues off', async () => {
    const c = freshDb().collection('c');
    await c.insertOne({ _id: 1, i: new Int32(5), l: Long.fromNumber(2 ** 40), d: 1.5 });
    const doc = await c.findOne({ _id: 1 }, { promoteValues: false });
    assert.ok(doc.i instanceof Int32);
    assert.ok(doc.l instanceof Long);
    assert.equal(doc.l.toNumber(), 2 ** 40);
  });

  test('distinct and estimatedDocumentCount', async () => {
    const c = freshDb().collection('c');
    await c.insertMany([{ t: ['a', 'b'] }, { t: 'b' }, { t: 'c' }]);
    assert.deepEqual((await c.distinct('t')).sort(), ['a', 'b', 'c']);
    assert.equal(await c.estimatedDocumentCount(), 3);
  });
});

describe('bulkWrite', () => {
  test('mixed ordered bulkWrite reports every count', async () => {
    const c = freshDb().collection('c');
    const r = await c.bulkWrite([
      { insertOne: { document: { _id: 1, v: 1 } } },
      { insertOne: { document: { _id: 2, v: 2 } } },
      { updateOne: { filter: { _id: 1 }, update: { $set: { v: 10 } } } },
      { updateMany: { filter: {}, update: { $inc: { v: 1 } } } },
      { replaceOne: { filter: { _id: 3 }, replacement: { v: 3 }, upsert: true } },
      { deleteOne: { filter: { _id: 2 } } },
    ]);
    assert.equal(r.insertedCount, 2);
    assert.equal(r.matchedCount, 3);
    assert.equal(r.modifiedCount, 3);
    assert.equal(r.upsertedCount, 1);
    assert.equal(r.deletedCount, 1);
    assert.deepEqual(await c.find().sort({ _id: 1 }).toArray(), [{ _id: 1, v: 11 }, { _id: 3, v: 3 }]);
  });

  test('unordered bulkWrite with a duplicate reports writeErrors and applies the rest', async () => {
    const c = freshDb().collection('c');
    await assert.rejects(c.bulkWrite([
      { insertOne: { document: { _id: 1 } } },
      { insertOne: { document: { _id: 1 } } },
      { insertOne: { document: { _id: 2 } } },
    ], { ordered: false }), (err) => {
      assert.ok(err instanceof MongoBulkWriteError);
      assert.equal(err.result.insertedCount, 2);
      return true;
    });
  });
});

describe('countDocuments', () => {
  test('countDocuments with filter, skip and limit', async () => {
    const c = freshDb().collection('c');
    await c.insertMany(Array.from({ length: 50 }, (_, i) => ({ i })));
    assert.equal(await c.countDocuments(), 50);
    assert.equal(await c.countDocuments({ i: { $lt: 10 } }), 10);
    assert.equal(await c.countDocuments({}, { skip: 45 }), 5);
    assert.equal(await c.countDocuments({}, { limit: 7 }), 7);
  });

  test('countDocuments on a missing collection is 0', async () => {
    assert.equal(await freshDb().collection('none').countDocuments(), 0);
  });
});

describe('aggregate', () => {
  test('match, group, sort and project', async () => {
    const c = freshDb().collection('c');
    await c.insertMany([{ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'a', v: 3 }]);
    const out = await c.aggregate([
      { $match: { v: { $gte: 1 } } },
      { $group: { _id: '$k', total: { $sum: '$v' }, n: { $sum: 1 } } },
      { $sort: { total: -1 } },
      { $project: { _id: 0, k: '$_id', total: 1, n: 1 } },
    ]).toArray();
    assert.deepEqual(out, [{ total: 4, n: 2, k: 'a' }, { total: 2, n: 1, k: 'b' }]);
  });

  test('unwind, count and batchSize iterate all results', async () => {
    const c = freshDb().collection('c');
    await c.insertMany(Array.from({ length: 30 }, (_, i) => ({ arr: [i, i + 1, i + 2] })));
    const out = await c.aggregate([{ $unwind: '$arr' }], { batchSize: 7 }).toArray();
    assert.equal(out.length, 90);
    assert.deepEqual(await c.aggregate([{ $unwind: '$arr' }, { $count: 'n' }]).toArray(), [{ n: 90 }]);
  });
});

describe('indexes', () => {
  test('createIndex, listIndexes, unique violation and dropIndex', async () => {
    const c = freshDb().collection('c');
    assert.equal(await c.createIndex({ email: 1 }, { unique: true }), 'email_1');
    assert.equal(await c.createIndex({ a: 1, b: -1 }), 'a_1_b_-1');
    const names = (await c.listIndexes().toArray()).map((i) => i.name).sort();
    assert.deepEqual(names, ['_id_', 'a_1_b_-1', 'email_1']);
    await c.insertOne({ email: 'x' });
    await assert.rejects(c.insertOne({ email: 'x' }), (err) => {
      assert.ok(err instanceof MongoServerError);
      assert.equal(err.code, 11000);
      assert.deepEqual(err.keyPattern, { email: 1 });
      assert.deepEqual(err.keyValue, { email: 'x' });
      return true;
    });
    await c.dropIndex('email_1');
    assert.equal((await c.indexes()).length, 2);
    assert.equal(await c.indexExists('a_1_b_-1'), true);
  });
});

describe('cursors', () => {
  test('iterating a large result with a small batchSize uses getMore', async () => {
    const c = freshDb().collection('c');
    await c.insertMany(Array.from({ length: 1000 }, (_, i) => ({ _id: i })));
    const cur = c.find({}, { batchSize: 13 }).sort({ _id: 1 });
    let expect = 0;
    for await (const d of cur) {
      assert.equal(d._id, expect);
      expect += 1;
    }
    assert.equal(expect, 1000);
  });

  test('closing a cursor early kills it on the server', async () => {
    const db = freshDb();
    const c = db.collection('c');
    await c.insertMany(Array.from({ length: 100 }, (_, i) => ({ _id: i })));
    const cur = c.find({}, { batchSize: 5 });
    await cur.next();
    const id = cur.id;
    assert.ok(id && !id.isZero());
    await cur.close();
    await assert.rejects(db.command({ getMore: id, collection: 'c' }), (err) => {
      assert.equal(err.code, 43);
      assert.equal(err.codeName, 'CursorNotFound');
      return true;
    });
  });

  test('listCollections cursor returns names', async () => {
    const db = freshDb();
    await db.createCollection('one');
    await db.createCollection('two');
    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
    assert.deepEqual(names, ['one', 'two']);
  });
});

describe('error shapes', () => {
  test('unknown command is a MongoServerError with code 59 and codeName', async () => {
    await assert.rejects(client.db('admin').command({ definitelyNotACommand: 1 }), (err) => {
      assert.ok(err instanceof MongoServerError);
      assert.equal(err.code, 59);
      assert.equal(err.codeName, 'CommandNotFound');
      assert.match(err.message, /definitelyNotACommand/);
      return true;
    });
  });

  test('a bad query operator is BadValue with code 2', async () => {
    const c = freshDb().collection('c');
    await c.insertOne({ a: 1 });
    await assert.rejects(c.find({ a: { $nope: 1 } }).toArray(), (err) => {
      assert.ok(err instanceof MongoServerError);
      assert.equal(err.code, 2);
      assert.equal(err.codeName, 'BadValue');
      return true;
    });
  });

  test('an unknown update operator is a write error with code 9 (FailedToParse)', async () => {
    const c = freshDb().collection('c');
    await c.insertOne({ _id: 1 });
    await assert.rejects(c.updateOne({ _id: 1 }, { $nope: { a: 1 } }), (err) => {
      assert.ok(err instanceof MongoServerError);
      assert.equal(err.code, 9);
      assert.match(err.message, /\$nope/);
      return true;
    });
  });

  test('dropping a missing collection raises NamespaceNotFound from the raw command', async () => {
    await assert.rejects(freshDb().command({ drop: 'none' }), (err) => {
      assert.equal(err.code, 26);
      assert.equal(err.codeName, 'NamespaceNotFound');
      return true;
    });
  });

  test('a transaction fails with an error that names transactions', async () => {
    const db = freshDb();
    await db.collection('c').insertOne({ _id: 0 });
    const session = client.startSession();
    try {
      session.startTransaction();
      await assert.rejects(db.collection('c').insertOne({ _id: 1 }, { session }), (err) => {
        assert.match(err.message, /transaction/i);
        return true;
      });
    } finally {
      await session.endSession();
    }
    assert.equal(await db.collection('c').countDocuments({ _id: 1 }), 0);
  });
});
