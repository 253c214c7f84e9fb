/**
 * `birdc -v` output, parsed for tests (the agent speaks the socket itself,
 * core/bird-replies.ts): birdc prints the socket's reply lines with
 * continuations indented by 5 spaces (the socket's 1, plus 4) and drops the
 * `0000 ` terminator.
 */
import { parseReplyLines, protocolDetails, protocolRows, type BirdReply, type ProtocolDetail, type ProtocolRow } from '../../src/core/bird-replies.js';

export function parseBirdcReplies(stdout: string): BirdReply[] {
  return parseReplyLines(stdout.split('\n'), (line) => (line.startsWith('     ') ? 5 : 1));
}

/** `birdc -v show protocols`. */
export function parseShowProtocols(stdout: string): ProtocolRow[] {
  return protocolRows(parseBirdcReplies(stdout));
}

/** `birdc -v show protocols all`. */
export function parseShowProtocolsAll(stdout: string): ProtocolDetail[] {
  return protocolDetails(parseBirdcReplies(stdout));
}
