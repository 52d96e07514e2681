/**
 * Certification messages after parsing: what the replicator service works with.
 * `adapters/wire` turns raw Kafka records into these; nothing here knows about JSON.
 */
import type { Statemap, Version } from './domain.js';

export interface CandidateMessage {
  readonly kind: 'candidate';
  /** The record's offset. */
  readonly version: Version;
  /**
   * Empty when the record has none: nothing to install, but the version still passes through so
   * the snapshot can move. The pipeline's parser defers it (`DeferredStatemap`), never when empty.
   */
  readonly statemap: Statemap;
}

export type DecisionOutcome = 'committed' | 'aborted';

export interface DecisionMessage {
  readonly kind: 'decision';
  /** The decision record's own offset. */
  readonly decisionVersion: Version;
  /** The version of the candidate this decision is for. */
  readonly version: Version;
  readonly outcome: DecisionOutcome;
  /** Commits only. */
  readonly safepoint: Version | null;
  /** Set when the candidate at `version` re-sent the transaction first certified at this version. */
  readonly duplicateVersion: Version | null;
}

export type CertificationMessage = CandidateMessage | DecisionMessage;

/** A record that could not be used, with what was wrong and where. */
export interface RejectedRecord {
  readonly offset: Version | null;
  readonly origin: string | null;
  readonly reason: string;
}

/** One source batch after parsing: every record is either a message or a rejection. */
export interface ParsedBatch {
  readonly messages: readonly CertificationMessage[];
  readonly rejects: readonly RejectedRecord[];
  /** The highest offset in the batch, valid or not, so gaps left by rejected records are known. */
  readonly lastOffset: Version | null;
  /**
   * Where every record of the batch came from, when they share one origin (a topic partition):
   * names the place of a record rejected after parsing (a decision for an unknown version).
   */
  readonly origin?: string | null;
}
