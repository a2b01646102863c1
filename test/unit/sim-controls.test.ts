/**
 * Every control of the simulator refuses a value outside its domain with an InvalidRequestError
 * naming the field, and changes nothing: a probability of `true` is not "every message", a
 * partition naming a node that does not exist is a typo, not a cut-off node.
 */
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/errors.js';
import { Simulation, type SimulationOptions } from '../../src/sim/simulation.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { MemoryNetwork, RELIABLE, networkConditionsSchema, type NetworkConditions } from '../../src/transport/memory.js';

const bad = <T>(value: unknown): T => value as T;

function expectRefused(fn: () => unknown, field: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidRequestError);
  expect((thrown as Error).message).toMatch(field);
}

/** Each value outside the domain of one condition, and the field the message must name. */
const badConditions: [string, Partial<NetworkConditions>, RegExp][] = [
  ['longReorder: true', bad({ longReorder: true }), /longReorder = true: a probability is a finite number from 0 to 1/],
  ['drop: 1.5', { drop: 1.5 }, /drop = 1\.5: a probability/],
  ['drop: -0.1', { drop: -0.1 }, /drop = -0\.1: a probability/],
  ['duplicate: NaN', { duplicate: NaN }, /duplicate = NaN: a probability/],
  ['reorder: Infinity', { reorder: Infinity }, /reorder = Infinity: a probability/],
  ['reorder: "0.5"', bad({ reorder: '0.5' }), /reorder = "0\.5": a probability/],
  ['drop: undefined', { drop: undefined }, /drop = undefined: a probability/],
  ['delay: [5, 1]', { delay: [5, 1] }, /delay = \[5,1\]: delay is \[min, max\] with min ≤ max/],
  ['delay: [-1, 5]', { delay: [-1, 5] }, /delay\.0 = -1: a delay is a whole number of ms ≥ 0/],
  ['delay: [1, 2.5]', { delay: [1, 2.5] }, /delay\.1 = 2\.5: a delay is a whole number/],
  ['delay: [1, Infinity]', { delay: [1, Infinity] }, /delay\.1 = Infinity: a delay is a whole number/],
  ['delay: [1]', bad({ delay: [1] }), /delay = \[1\]/],
  ['delay: 5', bad({ delay: 5 }), /delay = 5: delay is \[min, max\] in ms/],
  ['an unknown key', bad({ lag: 3 }), /unknown condition "lag"; the conditions are drop, duplicate, delay, reorder, longReorder/],
];

const goodConditions: Partial<NetworkConditions>[] = [
  {},
  { drop: 0 },
  { drop: 1 },
  { longReorder: 0.02 },
  { delay: [0, 0] },
  { delay: [3, 3] },
  { drop: 0.1, duplicate: 0.05, delay: [1, 27], reorder: 0.2, longReorder: 0.02 },
];

describe('MemoryNetwork.setConditions refuses a condition outside its domain and keeps the old ones', () => {
  it.each(badConditions)('%s is refused', (_, conditions, field) => {
    const network = new MemoryNetwork(new VirtualClock());
    network.setConditions({ drop: 0.25 });
    expectRefused(() => network.setConditions(conditions), field);
    expect(network.currentConditions).toEqual({ ...RELIABLE, drop: 0.25 });
  });

  it.each(goodConditions)('%j is accepted, and the conditions not given stay as they were', (conditions) => {
    const network = new MemoryNetwork(new VirtualClock());
    network.setConditions({ reorder: 0.5 });
    network.setConditions(conditions);
    expect(network.currentConditions).toEqual({ ...RELIABLE, reorder: 0.5, ...conditions });
  });

  it('longReorder: true no longer means "hold back every message"', () => {
    expect(networkConditionsSchema.safeParse({ longReorder: true }).success).toBe(false);
    expect(networkConditionsSchema.safeParse({ longReorder: 1 }).success).toBe(true);
  });
});

describe('Simulation.setNetwork uses the same rules', () => {
  it.each(badConditions)('%s is refused, and nothing changes', (_, conditions, field) => {
    const sim = new Simulation({ nodes: 3, seed: 1 });
    const before = sim.network.currentConditions;
    expectRefused(() => sim.setNetwork(conditions), new RegExp(`setNetwork refused.*${field.source}`));
    expect(sim.network.currentConditions).toEqual(before);
  });

  it.each(goodConditions)('%j is accepted', (conditions) => {
    const sim = new Simulation({ nodes: 3, seed: 1 });
    sim.setNetwork(conditions);
    expect(sim.network.currentConditions).toEqual({ ...RELIABLE, ...conditions });
  });
});

describe('new Simulation(options) refuses options outside their domain', () => {
  const refused: [string, unknown, RegExp][] = [
    ['nodes: 0', { nodes: 0, seed: 1 }, /nodes = 0: a simulation needs at least one node/],
    ['nodes: 2.5', { nodes: 2.5, seed: 1 }, /nodes = 2\.5: nodes is a whole number ≥ 1/],
    ['nodes: []', { nodes: [], seed: 1 }, /nodes = \[\]: a simulation needs at least one node/],
    ['nodes: ["a", "a"]', { nodes: ['a', 'a'], seed: 1 }, /nodes = \["a","a"\]: node ids must be distinct/],
    ['nodes: ["a", ""]', { nodes: ['a', ''], seed: 1 }, /nodes\.1 = ""/],
    ['seed: 1.5', { nodes: 3, seed: 1.5 }, /seed = 1\.5: the seed is an integer/],
    ['seed: NaN', { nodes: 3, seed: NaN }, /seed = NaN: the seed is an integer/],
    ['no seed', { nodes: 3 }, /seed = undefined: the seed is an integer/],
    ['electionTimeout: [300, 200]', { nodes: 3, seed: 1, electionTimeout: [300, 200] }, /electionTimeout = \[300,200\]: .*min ≤ max/],
    ['electionTimeout: [0, 200]', { nodes: 3, seed: 1, electionTimeout: [0, 200] }, /electionTimeout\.0 = 0/],
    [
      'heartbeatInterval at the minimum election timeout',
      { nodes: 3, seed: 1, electionTimeout: [150, 300], heartbeatInterval: 150 },
      /heartbeatInterval = 150: heartbeatInterval must be below the minimum election timeout/,
    ],
    ['heartbeatInterval above the default election timeout', { nodes: 3, seed: 1, heartbeatInterval: 400 }, /heartbeatInterval = 400/],
    ['heartbeatInterval: 0', { nodes: 3, seed: 1, heartbeatInterval: 0 }, /heartbeatInterval = 0/],
    ['network: { longReorder: true }', { nodes: 3, seed: 1, network: { longReorder: true } }, /network\.longReorder = true: a probability/],
    ['network: { delay: [9, 1] }', { nodes: 3, seed: 1, network: { delay: [9, 1] } }, /network\.delay = \[9,1\]: .*min ≤ max/],
    ['network: an unknown key', { nodes: 3, seed: 1, network: { jitter: 1 } }, /network: unknown condition "jitter"/],
    ['an unknown option', { nodes: 3, seed: 1, nodez: 5 }, /unknown option "nodez"/],
  ];

  it.each(refused)('%s is refused', (_, options, field) => {
    expectRefused(() => new Simulation(bad<SimulationOptions>(options)), new RegExp(`new Simulation refused: .*${field.source}`));
  });

  it.each<[string, SimulationOptions]>([
    ['one node', { nodes: 1, seed: 0 }],
    ['named nodes', { nodes: ['a', 'b', 'c'], seed: -3 }],
    ['timing', { nodes: 5, seed: 1, electionTimeout: [150, 300], heartbeatInterval: 50 }],
    ['a faulty network', { nodes: 5, seed: 33, network: { drop: 0.1, duplicate: 0.05, delay: [1, 27], reorder: 0.2, longReorder: 0.02 } }],
  ])('%s is accepted', (_, options) => {
    const sim = new Simulation(options);
    expect(sim.ids.length).toBeGreaterThanOrEqual(1);
    sim.stop();
  });
});

describe('the fault and time controls refuse unknown nodes and impossible times', () => {
  const sim = (): Simulation => new Simulation({ nodes: 3, seed: 1 });

  it.each(['disconnect', 'connect', 'crash', 'restart'] as const)('%s of an unknown id is refused, naming it', (control) => {
    const s = sim();
    expectRefused(() => s[control]('n9'), new RegExp(`${control} refused: id = "n9" is not a node of this simulation \\(n1, n2, n3\\)`));
    expectRefused(() => s[control](bad(1)), new RegExp(`${control} refused: id = 1 is not a node`));
  });

  it('disconnect, connect, crash and restart of a known node are accepted', () => {
    const s = sim();
    s.disconnect('n1');
    expect(s.network.isConnected('n1')).toBe(false);
    s.connect('n1');
    expect(s.network.isConnected('n1')).toBe(true);
    s.crash('n2');
    expect(s.isRunning('n2')).toBe(false);
    s.restart('n2');
    expect(s.isRunning('n2')).toBe(true);
    s.stop();
  });

  it('partition with an unknown node is refused, and the network stays whole', () => {
    const s = sim();
    expectRefused(
      () =>
        s.partition([
          ['n1', 'n2'],
          ['n3', 'n4'],
        ]),
      /partition refused, nothing changed: groups\[1\]\[1\] = "n4" is not a node of this simulation/,
    );
    expect(s.network.canReach('n1', 'n3')).toBe(true);
  });

  it('partition with a node in two groups is refused, and the network stays whole', () => {
    const s = sim();
    expectRefused(
      () =>
        s.partition([
          ['n1', 'n2'],
          ['n2', 'n3'],
        ]),
      /groups\[1\]\[0\] = "n2" is already in groups\[0\]/,
    );
    expect(s.network.canReach('n1', 'n3')).toBe(true);
    expectRefused(() => s.partition(bad(['n1'])), /groups = \["n1"\] is not a list of lists of node ids/);
  });

  it('partition into groups of known nodes is accepted (a node left out is cut off)', () => {
    const s = sim();
    s.partition([['n1', 'n2'], []]);
    expect(s.network.canReach('n1', 'n2')).toBe(true);
    expect(s.network.canReach('n1', 'n3')).toBe(false);
  });

  it.each([-1, NaN, Infinity, -Infinity])('run(%s) is refused and time does not move', (ms) => {
    const s = sim();
    s.run(10);
    expectRefused(() => s.run(ms), /run refused: ms = .*: expected a finite number of ms ≥ 0/);
    expectRefused(() => s.runUntil(() => false, { timeout: ms }), /runUntil refused: timeout = .*: expected a finite number of ms ≥ 0/);
    expect(s.now()).toBe(10);
  });

  it('runUntil needs a predicate and a timeout', () => {
    const s = sim();
    expectRefused(() => s.runUntil(bad('leader'), { timeout: 10 }), /runUntil refused: predicate = "leader" is not a function/);
    expectRefused(() => s.runUntil(() => true, bad({})), /runUntil refused: timeout = undefined/);
  });

  it('run(0), run(12.5) and runUntil with timeout 0 are accepted', () => {
    const s = sim();
    s.run(0);
    s.run(12.5);
    expect(s.now()).toBe(12.5);
    expect(s.runUntil(() => true, { timeout: 0 })).toBe(true);
  });
});
