/** The Node entry's WebGPU runtime: the `webgpu` package (Dawn), loaded at the first GPU acquisition. */
import { installDawnLoader } from './device.js';

installDawnLoader(() => import('webgpu') as unknown as ReturnType<Parameters<typeof installDawnLoader>[0]>);
