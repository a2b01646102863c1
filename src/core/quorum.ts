/**
 * Majority arithmetic. The seed's rule, kept literally: a decision is reached when
 * `acceptances > allNodes / 2`.
 */
export function isMajority(acceptances: number, voters: number): boolean {
  return acceptances > voters / 2;
}

/** The smallest number of voters that is a majority of `voters`. */
export function majoritySize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The highest index that a majority has reached, given every voter's match index
 * (the leader's own last durable index included).
 */
export function quorumIndex(matchIndexes: readonly number[]): number {
  const sorted = [...matchIndexes].sort((a, b) => b - a);
  return sorted[majoritySize(matchIndexes.length) - 1] ?? 0;
}
