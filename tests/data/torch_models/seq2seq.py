"""The sequence-to-sequence translation model of the PyTorch tutorial: a GRU encoder and a
decoder with Bahdanau attention, wrapped together; device chosen at import time."""

from __future__ import unicode_literals, print_function, division

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
SOS_token = 0
MAX_LENGTH = 10


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size, dropout_p=0.1):
        super(EncoderRNN, self).__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)


class BahdanauAttention(nn.Module):
    def __init__(self, hidden_size):
        super(BahdanauAttention, self).__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1):
        super(AttnDecoderRNN, self).__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)
        self.dropout = nn.Dropout(dropout_p)


class Seq2Seq(nn.Module):
    def __init__(self, input_lang_words=4345, output_lang_words=2803, hidden_size=128):
        super().__init__()
        self.encoder = EncoderRNN(input_lang_words, hidden_size).to(device)
        self.decoder = AttnDecoderRNN(hidden_size, output_lang_words).to(device)


model = Seq2Seq()
encoder_optimizer = optim.Adam(model.encoder.parameters(), lr=0.001)
decoder_optimizer = optim.Adam(model.decoder.parameters(), lr=0.001)
criterion = nn.NLLLoss()
