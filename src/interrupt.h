/* core.interrupt's flag for the transport's blocking waits (interrupt.c). */
#ifndef ZUORA_INTERRUPT_H
#define ZUORA_INTERRUPT_H

/* 1 if a Ctrl-C caught by core.interrupt.catch() is pending: clears it and its pending Lua error,
 * so the caller reports it (raise "interrupted!") instead. 0 otherwise, or without catch(). */
int zz_interrupt_take(void);

/* 1 if a Ctrl-C is pending (left for the Lua hook to raise). */
int zz_interrupt_pending(void);

#endif
