import type { CommandGroup } from './command.js';
import { sdcGroup } from './sdc-commands.js';
import { pkiGroup } from './pki-commands.js';
import { hubGroup } from './hub-commands.js';
import { agentGroup } from './agent-commands.js';

/** Every command group of the `tamtam` program, in the order --help lists them. */
export const groups: CommandGroup[] = [sdcGroup, pkiGroup, hubGroup, agentGroup];
