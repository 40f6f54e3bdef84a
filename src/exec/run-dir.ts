/** Where vmrouter keeps its state: a tmpfs on Debian (/run), gone at reboot like the kernel state it records. */
export const RUN_DIR = '/run/vmrouter';
