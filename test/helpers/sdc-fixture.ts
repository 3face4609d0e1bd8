import { certMatches, loadCompressor, trainDictionary, batchFromObjects, type Compressor, type Dictionary, type OpenOptions } from '../../protocol/index.js';
import { sampleActs } from './acts.js';
import { makeTestPki, type Party, type TestPki } from './test-pki.js';

export interface SdcFixture {
  pki: TestPki;
  compressor: Compressor;
  dictionary: Dictionary;
  /** Options a hub with this PKI opens SDCs with; `signers` are the enrolled certificates. */
  openOptions(signers?: Party[]): OpenOptions;
}

let fixture: Promise<SdcFixture> | undefined;

/** One PKI and compressor per test process: RSA key generation is the slow part. */
export function sdcFixture(): Promise<SdcFixture> {
  fixture ??= (async () => {
    const pki = makeTestPki();
    const compressor = await loadCompressor();
    // Trained on acts the tests never pack (they use the first 3,000).
    const dictionary = trainDictionary(batchFromObjects('births', sampleActs('births', 5000).slice(3000)), { size: 32 * 1024 });
    return {
      pki, compressor, dictionary,
      openOptions: (signers = [pki.centre]) => ({
        recipientKey: pki.hub.key,
        recipientCert: pki.hub.cert,
        resolveSigner: (id) => signers.find((s) => certMatches(s.cert, id))?.cert,
        resolveDictionary: (id) => (id === dictionary.id ? dictionary : undefined),
      }),
    };
  })();
  return fixture;
}
