#!/usr/bin/env node
// A dcmjs-dimse SCP whose behaviour the tests choose, to see how dicomdoctor judges a toolkit that shares no
// code with dcmtk, pynetdicom or Orthanc.
//
//   node scp.js '{"port": 11112, "ae_title": "DCMJS", ...}'     (or a path to a JSON file)
//
// Options (all optional except port):
//   host               address to listen on (default 127.0.0.1: loopback only)
//   ae_title           our AE title (default DCMJS)
//   check_called_ae    reject a called AE title other than ae_title with called_ae_reject (default [1, 1, 7])
//   calling_ae_allow   accept only these calling AE titles; others get calling_ae_reject (default [1, 1, 3];
//                      [1, 1, 7] mimics archives that blame the called AE for an unknown caller)
//   calling_ae_deny    refuse these calling AE titles (with calling_ae_reject) and accept any other
//   reject             [result, source, reason]: reject every association with exactly that
//   sop_classes        accept only these abstract syntaxes (UIDs); others get result 3. Default: any.
//   transfer_syntaxes  {"<abstract syntax UID>" | "*": [transfer syntax UIDs]}: what each class is accepted
//                      with; default Implicit VR LE and Explicit VR LE for every class
//   ts_refusal_result  the result for a supported class proposed with no acceptable transfer syntax: 4 (the
//                      standard answer, default) or 3 (what some peers send instead)
//   abort              "after-accept" (A-ASSOCIATE-AC then A-ABORT at once) or "on-request" (A-ABORT on the
//                      first DIMSE request); abort_source / abort_reason (default 2 / 0)
//   echo_status, store_status   DIMSE statuses to answer (default 0x0000)
//   implementation_uid, implementation_version   override what the A-ASSOCIATE-AC says about us
//
// Every event is one JSON line on stdout ({"event": "listening" | "association" | "c-echo" | "c-store" | ...}),
// so a test can read what the peer saw.
'use strict';

const fs = require('fs');
const net = require('net');
const dimse = require('dcmjs-dimse');

const { Scp, Implementation } = dimse;
const { CEchoResponse, CStoreResponse } = dimse.responses;
const { PresentationContextResult, TransferSyntax } = dimse.constants;

function loadOptions(arg) {
  if (!arg) {
    throw new Error('usage: node scp.js JSON|FILE');
  }
  const text = arg.trim().startsWith('{') ? arg : fs.readFileSync(arg, 'utf8');
  return JSON.parse(text);
}

const opts = loadOptions(process.argv[2]);
const aeTitle = opts.ae_title || 'DCMJS';
const uncompressed = [TransferSyntax.ImplicitVRLittleEndian, TransferSyntax.ExplicitVRLittleEndian];

function emit(event, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ event }, fields || {})) + '\n');
}

function triple(value, fallback) {
  const t = value || fallback;
  return { result: t[0], source: t[1], reason: t[2] };
}

function allowedSyntaxes(abstractSyntax) {
  const table = opts.transfer_syntaxes || {};
  return table[abstractSyntax] || table['*'] || uncompressed;
}

if (opts.implementation_uid) {
  Implementation.setImplementationClassUid(opts.implementation_uid);
}
if (opts.implementation_version) {
  Implementation.setImplementationVersion(opts.implementation_version);
}

class ConfigurableScp extends Scp {
  constructor(socket, scpOpts) {
    super(socket, scpOpts);
    this.association = undefined;
  }

  rejectWith(t, why) {
    emit('reject', Object.assign({ why }, t));
    this.sendAssociationReject(t.result, t.source, t.reason);
  }

  associationRequested(association) {
    this.association = association;
    const calling = association.getCallingAeTitle();
    const called = association.getCalledAeTitle();
    emit('association', { calling, called });
    if (opts.reject) {
      this.rejectWith(triple(opts.reject), 'reject');
      return;
    }
    if (opts.check_called_ae && called !== aeTitle) {
      this.rejectWith(triple(opts.called_ae_reject, [1, 1, 7]), 'called-ae');
      return;
    }
    const denied = opts.calling_ae_deny && opts.calling_ae_deny.includes(calling);
    if (denied || (opts.calling_ae_allow && !opts.calling_ae_allow.includes(calling))) {
      this.rejectWith(triple(opts.calling_ae_reject, [1, 1, 3]), 'calling-ae');
      return;
    }
    const contexts = [];
    association.getPresentationContexts().forEach((c) => {
      const context = association.getPresentationContext(c.id);
      const abstractSyntax = context.getAbstractSyntaxUid();
      const proposed = context.getTransferSyntaxUids();
      if (opts.sop_classes && !opts.sop_classes.includes(abstractSyntax)) {
        context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
      } else {
        const allowed = allowedSyntaxes(abstractSyntax);
        const chosen = proposed.find((ts) => allowed.includes(ts));
        if (chosen !== undefined) {
          context.setResult(PresentationContextResult.Accept, chosen);
        } else if (opts.ts_refusal_result === 3) {
          context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
        } else {
          context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
        }
      }
      contexts.push({ id: c.id, abstract_syntax: abstractSyntax, proposed, result: context.getResult() });
    });
    emit('contexts', { contexts });
    this.sendAssociationAccept();
    if (opts.abort === 'after-accept') {
      this.abortNow();
    }
  }

  abortNow() {
    const source = opts.abort_source === undefined ? 2 : opts.abort_source;
    const reason = opts.abort_reason === undefined ? 0 : opts.abort_reason;
    emit('abort', { source, reason });
    this.sendAbort(source, reason);
  }

  cEchoRequest(request, callback) {
    emit('c-echo', {});
    if (opts.abort === 'on-request') {
      this.abortNow();
      return;
    }
    const response = CEchoResponse.fromRequest(request);
    response.setStatus(opts.echo_status === undefined ? 0 : opts.echo_status);
    callback(response);
  }

  cStoreRequest(request, callback) {
    emit('c-store', {
      sop_class: request.getAffectedSopClassUid(),
      sop_instance: request.getAffectedSopInstanceUid(),
    });
    if (opts.abort === 'on-request') {
      this.abortNow();
      return;
    }
    const response = CStoreResponse.fromRequest(request);
    response.setStatus(opts.store_status === undefined ? 0 : opts.store_status);
    callback(response);
  }

  associationReleaseRequested() {
    emit('release', {});
    this.sendAssociationReleaseResponse();
  }

  abort(source, reason) {
    emit('peer-abort', { source, reason });
  }
}

// dcmjs-dimse's own Server listens on every interface; build the listener here so that it is loopback only
// (the same wiring as Server: one Scp per accepted socket).
const networkOpts = { associationTimeout: 30000, pduTimeout: 30000 };
const server = net.createServer((socket) => {
  const scp = new ConfigurableScp(socket, networkOpts);
  scp.connected = true;
  scp.on('networkError', (e) => {
    emit('network-error', { message: String(e && e.message ? e.message : e) });
    socket.end();
  });
});
server.on('error', (e) => {
  emit('server-error', { message: e.message });
  process.exit(1);
});
server.listen(opts.port, opts.host || '127.0.0.1', () => {
  emit('listening', { port: server.address().port, ae_title: aeTitle, version: dimse.version });
});

function stop() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
