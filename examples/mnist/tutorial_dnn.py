"""Hat's MNIST tutorial program, as the original Hat documentation gave it.

It trains for 101 epochs and saves a model every 2 epochs; main_dnn.py is the same model with a
command line and shorter defaults.
"""

import numpy as np
from prepare_data import exit_on_dataset_error, load_data

import hat.backend as K  # noqa: F401  (Hat's scripts import it; nothing here uses it)
from hat import serializations  # noqa: F401
from hat.callbacks import SaveModel, Validation
from hat.layers.core import Dense, Dropout, InputLayer
from hat.models import Sequential
from hat.optimizers import SGD, Adam  # noqa: F401
from hat.preprocessing import sparse_to_categorical

np.random.seed(1515)

# load & prepare data
# (without the data: its message alone, exit status 2)
tr_X, tr_y, va_X, va_y, te_X, te_y = exit_on_dataset_error(load_data)

# init params
n_in = 784
n_hid = 500
n_out = 10

# sparse label to 1 of K categorical label
tr_y = sparse_to_categorical(tr_y, n_out)
va_y = sparse_to_categorical(va_y, n_out)
te_y = sparse_to_categorical(te_y, n_out)

### Build model
seq = Sequential()
seq.add(InputLayer(n_in))
seq.add(Dense(n_hid, act="relu"))
seq.add(Dropout(p_drop=0.2))
seq.add(Dense(n_hid, act="relu"))
seq.add(Dropout(p_drop=0.2))
seq.add(Dense(n_out, act="softmax"))
md = seq.combine()

# print summary info of model
md.summary()

### optimization method
optimizer = Adam(lr=0.001)  # Try SGD, Adagrad, Rmsprop, etc. instead

### callbacks (optional)
# save model every n epoch (optional)
save_model = SaveModel(dump_fd="Md", call_freq=2)

# validate model every n epoch (optional)
validation = Validation(
    tr_x=tr_X,
    tr_y=tr_y,
    va_x=None,
    va_y=None,
    te_x=te_X,
    te_y=te_y,
    batch_size=500,
    metrics=["categorical_error"],
    call_freq=1,
    dump_path="validation.p",
)

# callbacks function
callbacks = [validation, save_model]

### train model
md.fit(
    x=tr_X,
    y=tr_y,
    batch_size=500,
    n_epochs=101,
    loss_func="categorical_crossentropy",
    optimizer=optimizer,
    callbacks=callbacks,
)

### predict using model
pred_y = md.predict(te_X)
