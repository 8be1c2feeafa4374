/*
 * QMF values on qpid-proton's pn_data_t: for code that builds or reads
 * AMQP 1.0 sections itself (the AMQP 1.0 bus).  Apart from codec.h so that
 * users of the byte-buffer codecs, JSON above all, need not see proton.
 */
#ifndef QMF_CODEC_AMQP_H
#define QMF_CODEC_AMQP_H

#include <proton/codec.h>

#include "core/codec.h"

/*
 * Appends v at the current position of data: 0, or a negative proton error
 * code (PN_OUT_OF_MEMORY past proton's 65535 nodes), after which data holds
 * a partial value and should be discarded.
 */
int qmf_put_pn_data(pn_data_t *data, const qmf_value *v);
/*
 * Reads the value at the current node of data (after pn_data_next()) and
 * leaves data on that node.  NULL and QMF_ERR_MALFORMED for types QMF has
 * no kind for, non-string map keys, or a value inside more than 64
 * containers (the same bound as JSON).
 */
qmf_value *qmf_get_pn_data(pn_data_t *data, qmf_error *err);

#endif
