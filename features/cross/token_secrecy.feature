Feature: The secret stays with the token
  Whoever holds the token can open the transfer, so the secret and the document ID travel only
  inside it, by a route apart from the payload. The repository keeps ciphertext and never learns
  the secret, the patient or the study: anything it holds or was sent is searched for them.

  @actor:sender @CPDI-ENC-01 @option:core @required
  Scenario Outline: Nothing the repository holds or was sent reveals <what>
    Given a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then nothing the repository holds or was sent reveals <what>

    @CPDI-TOK-01
    Examples: the key
      | what       |
      | the secret |

    @CPDI-KEY-01
    Examples: the plaintext
      | what                         |
      | the patient's name           |
      | the patient ID               |
      | the study's UID              |
      | the header of any DICOM file |
      | the text of the README       |

  @actor:sender @CPDI-TOK-01 @option:core @required
  Scenario: The secret reaches the receiving hospital only inside the token
    Given a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then the secret and the document ID reach the receiving hospital only inside the token

  @actor:sender @CPDI-TOK-03 @option:core @required
  Scenario: The token travels by a route apart from the payload
    Given a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then the token reaches the receiving hospital by a route that does not pass through the repository

  @actor:repository @CPDI-ENC-01 @option:core @required
  Scenario: The repository keeps and serves ciphertext without ever being told the secret
    Given an encrypted transfer of 2 MB
    When the sending hospital uploads the transfer to the repository
    And the receiving hospital downloads the document named in the token
    Then the download is the ciphertext as it was uploaded, byte for byte
