/** Set by the build (scripts/build.mjs) from debian/changelog or package.json. */
declare const VMROUTER_VERSION: string | undefined;
export const VERSION: string = typeof VMROUTER_VERSION !== 'undefined' ? VMROUTER_VERSION : '0.0.0-dev';
